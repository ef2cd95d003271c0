// Structured logs (pino): JSON lines to stderr, level from LOG_LEVEL. A job's lines carry
// its id so one job can be followed through bot, queue and worker. Secrets are redacted from
// every line (log-redact.ts).
import { pino, type Logger } from 'pino';
import { REDACT_PATHS, REDACTED, scrubSecrets } from './log-redact.js';

// Asynchronous, buffered writes (sonic-boom): a synchronous write per line blocked the event loop
// long enough to miss Discord's 3 s acknowledgement in bursts of commands. Up to 4 KiB are
// buffered for at most 200 ms; whatever is left is written synchronously when the process exits.
const destination = pino.destination({ fd: 2, sync: false, minLength: 4096 });
setInterval(() => {
  try {
    destination.flush();
  } catch {
    // Not open yet: the next tick tries again.
  }
}, 200).unref();
process.once('exit', () => {
  try {
    destination.flushSync();
  } catch {
    // Not open yet, or stderr is gone: nothing more can be written anyway.
  }
});

export const logger: Logger = pino(
  {
    // Under `node --test` (NODE_TEST_CONTEXT is set) only warnings and errors, unless asked.
    level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' || process.env.NODE_TEST_CONTEXT ? 'warn' : 'info'),
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    // Each finished line, whatever the destination: secrets inside messages, stacks and URLs.
    hooks: { streamWrite: scrubSecrets },
  },
  destination,
);

export function jobLogger(jobId: string, extra: Record<string, unknown> = {}): Logger {
  return logger.child({ jobId, ...extra });
}

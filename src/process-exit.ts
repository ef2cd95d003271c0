// How the entry points (the bot, `npm run worker`, the CLIs) stop: a startup error in one line
// (no stack trace for the problems an operator fixes: configuration, token, network; a stack only
// for real bugs), and an error nothing caught after a clean shutdown.
import { DiscordConfigError } from './config/discord.js';
import { logger } from './log.js';

/** Startup failures that are already one clear sentence. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export function exitWithError(err: unknown, program: string): never {
  const known = err instanceof DiscordConfigError || err instanceof StartupError || (err instanceof Error && err.message.startsWith('Invalid configuration'));
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${program}: ${message}\n`);
  if (!known && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}

/**
 * An error nothing caught (a rejected promise, a throw in a callback) leaves the process in an
 * unknown state: log it, run `cleanup` (stop taking work, close the queue and the database) for
 * at most `graceMs`, and exit with 1, rather than die mid-write or run on half broken. `cleanup`
 * is read when the crash happens, so an entry point can install this before it has anything to close.
 */
export function exitOnCrash(program: string, cleanup: () => (() => Promise<unknown>) | undefined, opts: { graceMs?: number } = {}): void {
  let crashing = false;
  const onCrash = (err: unknown, origin: string) => {
    logger.fatal({ err, origin }, `${program}: ${origin === 'unhandledRejection' ? 'unhandled promise rejection' : 'uncaught exception'}, shutting down`);
    if (crashing) return;
    crashing = true;
    const stop = cleanup();
    setTimeout(() => process.exit(1), opts.graceMs ?? 10_000);
    void Promise.resolve()
      .then(() => stop?.())
      .catch((cleanupErr: unknown) => logger.error({ err: cleanupErr }, `${program}: cleanup after the crash failed`))
      .finally(() => process.exit(1));
  };
  process.on('uncaughtException', (err) => onCrash(err, 'uncaughtException'));
  process.on('unhandledRejection', (reason) => onCrash(reason, 'unhandledRejection'));
}

// `npm run worker`: a worker host for QUEUE_BACKEND=redis. Runs one device worker per entry of
// DEVICES against the Redis queue at REDIS_URL; any number of hosts may share one queue.
// SIGINT/SIGTERM: stop taking jobs, let running ones finish for a while, requeue the rest.
import '../config/load-env.js';
import { loadEnv } from '../config/env.js';
import { logger } from '../log.js';
import { startMetricsServer } from '../metrics/server.js';
import { RedisWorkerHost } from './redis-worker.js';
import { exitOnCrash, exitWithError, StartupError } from '../process-exit.js';

/** What a crash (exitOnCrash) closes: set once the host runs. */
let cleanupOnCrash: (() => Promise<unknown>) | undefined;

async function main(): Promise<void> {
  const config = loadEnv();
  if (!config.REDIS_URL) {
    throw new StartupError(
      'REDIS_URL is not set: a worker host takes its jobs from the Redis queue the bot uses (e.g. REDIS_URL=redis://127.0.0.1:6379 in .env; see src/queue/README.md).',
    );
  }
  if (config.DEVICES.length === 0) throw new StartupError('DEVICES is empty: a worker host needs at least one device (cpu, cuda:0, …).');
  const host = await RedisWorkerHost.start(config, { shutdownGraceMs: config.WORKER_SHUTDOWN_GRACE_MS });
  cleanupOnCrash = () => host.close();
  const metrics = config.METRICS_PORT === undefined ? undefined : await startMetricsServer(config.METRICS_PORT, host, config.METRICS_HOST);
  cleanupOnCrash = () => Promise.all([host.close(), metrics?.close()]);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'worker host shutting down');
    void Promise.all([host.close(), metrics?.close()])
      .catch((err: unknown) => logger.error({ err }, 'shutdown failed'))
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Tests and supervisors read this line to know the host is taking jobs.
  process.stdout.write(`${JSON.stringify({ ready: true, devices: host.workers().map((w) => w.device) })}\n`);
}

process.umask(0o077);
exitOnCrash('worker host', () => cleanupOnCrash);
// Configuration problems: one line on stderr; anything else also gets its stack (exitWithError).
main().catch((err: unknown) => exitWithError(err, 'worker'));

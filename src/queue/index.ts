// Entry point of the job queue: pick the backend from config, and a shutdown helper for main.
import { logger } from '../log.js';
import { LocalJobQueue, type QueueConfig, type QueueOptions } from './local-queue.js';
import type { JobQueue } from './types.js';

export { LocalJobQueue, type QueueConfig, type QueueOptions, type WorkerInfo } from './local-queue.js';
export * from './types.js';

export function createJobQueue(
  config: QueueConfig & { QUEUE_BACKEND?: 'local' | 'redis' },
  opts: QueueOptions = {},
): LocalJobQueue {
  if (config.QUEUE_BACKEND === 'redis') {
    throw new Error('QUEUE_BACKEND=redis is not available yet; use QUEUE_BACKEND=local (one machine, one worker per device).');
  }
  return new LocalJobQueue(config, opts);
}

/**
 * On SIGINT/SIGTERM: close the queue (running jobs are checkpointed and resume on the next
 * start), run `extra` (e.g. log the bot out), then exit. Returns a function that uninstalls.
 */
export function installShutdown(queue: Pick<JobQueue, 'close'>, extra?: () => Promise<void>): () => void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    void (async () => {
      try {
        await extra?.();
        await queue.close();
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
      } finally {
        process.exit(0);
      }
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

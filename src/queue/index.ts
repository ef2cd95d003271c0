// Entry point of the job queue: pick the backend from config, and a shutdown helper for main.
import { logger } from '../log.js';
import type { ObservableQueue } from '../metrics/server.js';
import { LocalJobQueue, type QueueConfig, type QueueOptions } from './local-queue.js';
import { RedisJobQueue, type RedisQueueConfig, type RedisQueueOptions } from './redis-queue.js';
import type { JobQueue } from './types.js';

export { LocalJobQueue, type QueueConfig, type QueueOptions, type WorkerInfo } from './local-queue.js';
export { RedisJobQueue, type RedisQueueConfig, type RedisQueueOptions } from './redis-queue.js';
export { JobBook, type JobBookOptions } from './job-book.js';
export * from './types.js';

/** What createJobQueue returns: the bot's API plus what /healthz, /metrics and tests use. */
export interface ManagedJobQueue extends JobQueue, ObservableQueue {
  /** Device workers (local: child processes; redis: devices of live worker hosts). */
  workers(): { device: string; pid: number | undefined; alive: boolean; ready?: boolean; jobId: string | undefined; loadedModels: string[] }[];
  /** Resolves once the backend is usable (redis: connected and caught up; local: at once). */
  whenReady(): Promise<void>;
}

export type JobQueueConfig = QueueConfig & Partial<Omit<RedisQueueConfig, keyof QueueConfig>> & { QUEUE_BACKEND?: 'local' | 'redis' };

/**
 * The local backend (worker processes here), or with QUEUE_BACKEND=redis the BullMQ producer.
 * It keeps its jobs in `opts.book` (the process's one job book), or opens a book of its own on
 * DATA_DIR and closes it with the queue.
 */
export function createJobQueue(config: JobQueueConfig, opts: QueueOptions & RedisQueueOptions = {}): ManagedJobQueue {
  if (config.QUEUE_BACKEND === 'redis') {
    return new RedisJobQueue(
      {
        ...config,
        REDIS_QUEUE: config.REDIS_QUEUE ?? 'imagine',
        REDIS_PREFIX: config.REDIS_PREFIX ?? 'bull',
        REDIS_URL: config.REDIS_URL,
        QUEUE_OWNER: config.QUEUE_OWNER,
      },
      opts,
    );
  }
  return new LocalJobQueue(config, opts);
}

/**
 * On SIGINT/SIGTERM: close the queue (running jobs are checkpointed and resume on the next
 * start), run `extra` (e.g. log the bot out), then exit 0. On an uncaught exception or an
 * unhandled rejection: log it, then the same clean shutdown, exit 1 (rather than dying
 * mid-write). Returns a function that uninstalls.
 */
export function installShutdown(queue: Pick<JobQueue, 'close'>, extra?: () => Promise<void>): () => void {
  let closing = false;
  const shutDown = (code: number) => {
    if (closing) return;
    closing = true;
    void (async () => {
      try {
        await extra?.();
        await queue.close();
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
      } finally {
        process.exit(code);
      }
    })();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (!closing) logger.info({ signal }, 'shutting down');
    shutDown(0);
  };
  const onFatal = (err: unknown, origin: string) => {
    logger.fatal({ err, origin }, closing ? 'unexpected error while shutting down' : 'unexpected error; shutting down cleanly');
    shutDown(1);
  };
  const onRejection = (reason: unknown) => onFatal(reason, 'unhandledRejection');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onFatal);
    process.off('unhandledRejection', onRejection);
  };
}

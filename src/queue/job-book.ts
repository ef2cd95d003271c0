// The bookkeeping every queue of one bot process shares: DATA_DIR/bot.sqlite opened once (jobs,
// step statistics; settings use the same connection), the image files, the run-time estimator,
// the queue metrics and the queue events. main.ts opens one and hands it to the backend, the
// provider queue and the settings; createJobQueue() opens its own when it is given none.
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { JobRecord } from '../jobs/types.js';
import { createQueueMetrics, type QueueMetrics } from '../metrics/queue-metrics.js';
import { openDatabase, type Db } from '../store/db.js';
import { FileStore } from '../store/files.js';
import { JobStore } from '../store/jobs.js';
import { StepStatsStore } from '../store/step-stats.js';
import { Estimator } from './estimates.js';
import type { EmitQueueEvent } from './job-lifecycle.js';
import type { JobQueue, QueueEvents } from './types.js';

export interface JobBookOptions {
  /** Metrics to record into (default: a fresh registry with Node's default metrics). */
  metrics?: QueueMetrics;
  /** The simulated devices' step time, for estimates before any job was measured. */
  noopStepMs?: number;
}

/** The live record of an unfinished job a backend runs (fresher than its row), if it runs it. */
export type LiveLookup = (jobId: string) => JobRecord | undefined;

export class JobBook {
  readonly db: Db;
  readonly store: JobStore;
  readonly stats: StepStatsStore;
  readonly files: FileStore;
  readonly estimator: Estimator;
  private readonly events = new EventEmitter();
  private readonly live: LiveLookup[] = [];
  private metricsOrDefault?: QueueMetrics;

  constructor(
    readonly dataDir: string,
    opts: JobBookOptions = {},
  ) {
    this.db = openDatabase(dataDir);
    this.store = new JobStore(this.db);
    this.stats = new StepStatsStore(this.db);
    this.files = new FileStore(dataDir);
    this.estimator = new Estimator(this.stats.all(), opts.noopStepMs ?? 0);
    this.metricsOrDefault = opts.metrics;
    this.events.setMaxListeners(50);
  }

  /** Created on first use, so a book that records nothing registers no default metrics. */
  get metrics(): QueueMetrics {
    this.metricsOrDefault ??= createQueueMetrics({ defaultMetrics: true });
    return this.metricsOrDefault;
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** Lets a backend answer get() first for the jobs it is running. */
  addLive(lookup: LiveLookup): void {
    this.live.push(lookup);
  }

  get(jobId: string): JobRecord | undefined {
    for (const lookup of this.live) {
      const record = lookup(jobId);
      if (record) return record;
    }
    return this.store.get(jobId);
  }

  /** The PNG bytes of a finished job's images. */
  outputs(jobId: string): Promise<Buffer[]> {
    return this.files.jobOutputs(this.get(jobId));
  }

  /** The stored input image of a job, if it had one. */
  input(jobId: string): Promise<Buffer | undefined> {
    return this.files.jobInput(this.get(jobId));
  }

  /** Records where the job's message lives (for posting results after restarts). */
  setMessage(jobId: string, messageId: string): void {
    const record = this.get(jobId);
    if (!record) return;
    record.messageId = messageId;
    this.store.update(record);
  }

  on<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void {
    this.events.on(event, handler as (...args: unknown[]) => void);
  }

  off<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void {
    this.events.off(event, handler as (...args: unknown[]) => void);
  }

  readonly emit: EmitQueueEvent = (event, ...args) => this.events.emit(event, ...args);

  /** The emitter itself, for helpers that take one (publishPositions). */
  get emitter(): EventEmitter {
    return this.events;
  }

  close(): void {
    this.events.removeAllListeners();
    if (this.db.open) this.db.close();
  }
}

/**
 * What a backend takes from its book as is: lookups, message ids, events and metrics. It
 * closes the book only if it opened it (`owned`).
 */
export abstract class BookedQueue implements Pick<JobQueue, 'get' | 'outputs' | 'input' | 'setMessage' | 'on' | 'off'> {
  protected readonly book: JobBook;
  private readonly ownsBook: boolean;

  constructor(book: { given?: JobBook; dataDir: string; options: JobBookOptions }) {
    this.ownsBook = !book.given;
    this.book = book.given ?? new JobBook(book.dataDir, book.options);
  }

  get metricsRegistry(): Registry {
    return this.book.metrics.registry;
  }

  get(jobId: string): JobRecord | undefined {
    return this.book.get(jobId);
  }

  outputs(jobId: string): Promise<Buffer[]> {
    return this.book.outputs(jobId);
  }

  input(jobId: string): Promise<Buffer | undefined> {
    return this.book.input(jobId);
  }

  setMessage(jobId: string, messageId: string): void {
    this.book.setMessage(jobId, messageId);
  }

  on<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void {
    this.book.on(event, handler);
  }

  off<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void {
    this.book.off(event, handler);
  }

  /** After the backend has written its last row. */
  protected closeBook(): void {
    if (this.ownsBook) this.book.close();
  }
}

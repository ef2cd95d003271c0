// The bookkeeping every queue of one bot process shares: DATA_DIR/bot.sqlite opened once (jobs,
// step statistics; settings use the same connection), the image files, the run-time estimator,
// the queue metrics and the queue events. main.ts opens one and hands it to the backend, the
// provider queue and the settings; createJobQueue() opens its own when it is given none.
// A full disk is survivable here: a job-state write that fails is logged, counted, kept and
// written again once space returns (save()), and the job it was for fails with a clear message.
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import type { JobRecord, JobState } from '../jobs/types.js';
import { jobLogger, logger } from '../log.js';
import { createQueueMetrics, type QueueMetrics } from '../metrics/queue-metrics.js';
import { openDatabase, type Db } from '../store/db.js';
import { FileStore } from '../store/files.js';
import { JobStore } from '../store/jobs.js';
import { StepStatsStore } from '../store/step-stats.js';
import { isStorageError, STORAGE_FULL_MESSAGE, StorageFullError } from '../store/storage-errors.js';
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

type Finished = Extract<JobState, 'done' | 'failed' | 'cancelled'>;

/** How often job states that could not be written are tried again. */
const UNSAVED_RETRY_MS = 2000;

export class JobBook {
  readonly db: Db;
  readonly store: JobStore;
  readonly stats: StepStatsStore;
  readonly files: FileStore;
  readonly estimator: Estimator;
  private readonly events = new EventEmitter();
  private readonly live: LiveLookup[] = [];
  private metricsOrDefault?: QueueMetrics;
  /** Jobs whose last state could not be written (the record is the live one, so its newest state goes). */
  private readonly unsaved = new Map<string, { record: JobRecord; resumeFirst?: boolean }>();
  private retryTimer?: NodeJS.Timeout;

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
    // Newer than its row until the disk takes it.
    return this.unsaved.get(jobId)?.record ?? this.store.get(jobId);
  }

  /** The PNG bytes of a finished job's images. */
  outputs(jobId: string): Promise<Buffer[]> {
    return this.files.jobOutputs(this.get(jobId));
  }

  /** The stored input image of a job, if it had one. */
  input(jobId: string): Promise<Buffer | undefined> {
    return this.files.jobInput(this.get(jobId));
  }

  /** Records where the job's message lives (for posting results after restarts); on a full disk, once it can. */
  setMessage(jobId: string, messageId: string): void {
    const record = this.get(jobId);
    if (!record) return;
    record.messageId = messageId;
    this.save(record);
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

  // ---- writes that survive a full disk -------------------------------------------------------

  /**
   * Writes a job's state. On a storage error (logged, counted) it returns false and keeps the
   * record, to be written again until it succeeds; any other error is a bug and is thrown.
   */
  save(record: JobRecord, opts: { resumeFirst?: boolean } = {}): boolean {
    try {
      this.store.update(record, opts);
      this.unsaved.delete(record.id);
      return true;
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.storageFailed('job update', err, record.id);
      const before = this.unsaved.get(record.id);
      this.unsaved.set(record.id, { record, resumeFirst: opts.resumeFirst ?? before?.resumeFirst });
      this.retryUnsavedLater();
      return false;
    }
  }

  /**
   * Records a job's end in its record and row. A 'done' that cannot be written becomes a
   * failure (its outputs could not be found again); returns the state the job ended in.
   */
  settle(record: JobRecord, state: Finished): Finished {
    record.state = state;
    record.finishedAt = Date.now();
    if (this.save(record) || state !== 'done') return state;
    // save() kept the record itself, so this is what gets written once space returns.
    record.state = 'failed';
    record.error = STORAGE_FULL_MESSAGE;
    return 'failed';
  }

  /** Stores a new job's input image (and inpainting mask) and notes their paths in the record (a full disk: StorageFullError). */
  async writeInput(record: JobRecord, image: Uint8Array, mask?: Uint8Array): Promise<void> {
    try {
      record.initImagePath = await this.files.writeInput(record.id, image);
      if (mask) record.maskImagePath = await this.files.writeInput(record.id, mask, 'mask');
    } catch (err) {
      throw this.storageFailure('input image', err, record.id);
    }
  }

  /** Stores a new job's ControlNet control image and notes its path (a full disk: StorageFullError). */
  async writeControlImage(record: JobRecord, image: Uint8Array): Promise<void> {
    try {
      record.controlImagePath = await this.files.writeInput(record.id, image, 'control');
    } catch (err) {
      throw this.storageFailure('control image', err, record.id);
    }
  }

  /** Runs a write the caller cannot go on without (a new job's row): a storage error becomes StorageFullError. */
  must<T>(operation: string, write: () => T): T {
    try {
      return write();
    } catch (err) {
      throw this.storageFailure(operation, err);
    }
  }

  /** A storage error as StorageFullError, logged and counted; any other error as it is. */
  storageFailure(operation: string, err: unknown, jobId?: string): unknown {
    if (!isStorageError(err)) return err;
    this.storageFailed(operation, err, jobId);
    return new StorageFullError({ cause: err });
  }

  /** Runs a write the job does not depend on (speed statistics, the retention sweep); a storage error is logged and counted. */
  tryWrite<T>(operation: string, write: () => T): T | undefined {
    try {
      return write();
    } catch (err) {
      if (!isStorageError(err)) throw err;
      this.storageFailed(operation, err);
      return undefined;
    }
  }

  private storageFailed(operation: string, err: unknown, jobId?: string): void {
    this.metrics.storageErrors.inc({ operation });
    const log = jobId ? jobLogger(jobId) : logger;
    log.error(
      { err, operation, dataDir: this.dataDir },
      'could not write to DATA_DIR (disk or database full?); the bot carries on and writes again once it can',
    );
  }

  private retryUnsavedLater(): void {
    if (this.retryTimer || !this.db.open) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.writeUnsaved();
    }, UNSAVED_RETRY_MS);
    this.retryTimer.unref();
  }

  /** Writes the job states that failed before; stops at the first storage error and tries again later. */
  private writeUnsaved(): void {
    if (!this.db.open || this.unsaved.size === 0) return;
    let written = 0;
    for (const [id, { record, resumeFirst }] of [...this.unsaved]) {
      try {
        this.store.update(record, resumeFirst === undefined ? {} : { resumeFirst });
      } catch (err) {
        if (isStorageError(err)) {
          this.retryUnsavedLater();
          break;
        }
        // Not the disk: writing it again will not help (and this runs from a timer, so no throw).
        jobLogger(id).error({ err }, 'could not write a job state that had failed to save; giving it up');
      }
      this.unsaved.delete(id);
      written++;
    }
    if (written > 0) logger.info({ written, left: this.unsaved.size }, 'DATA_DIR is writable again; wrote the job states that had failed');
  }

  close(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.db.open) this.writeUnsaved();
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

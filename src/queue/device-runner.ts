// One device's worker process, driven one job at a time as a promise, and the one crash-loop
// policy: restart with backoff (reset once a process lived 30 s), kill on a stall, kill when a
// cancelled job does not stop within the grace. Both backends use it: the local queue (one per
// device in the bot process) and the Redis worker host (`npm run worker`). A job whose process
// died rejects with WorkerDiedError.
import { logger } from '../log.js';
import { stallReason } from './worker-failures.js';
import { describeIssues, runJobSchema, type FromWorker, type RunJob, type WorkerOptions } from './ipc.js';
import { WorkerHandle } from './worker-handle.js';

export type DoneMessage = Extract<FromWorker, { type: 'done' }>;
export type ProgressMessage = Extract<FromWorker, { type: 'progress' }>;

/** The worker process died (crash, kill, stall) while running the job. */
export class WorkerDiedError extends Error {
  override readonly name = 'WorkerDiedError';
  constructor(readonly why: string) {
    super(`the image worker ${why}`);
  }
}

/**
 * The job did not finish: the worker reported a failure (`aborted`: it says it stopped on the
 * cancel), or it died after a cancel. `cancelRequested`: cancel() had been called for it.
 */
export class JobFailedError extends Error {
  override readonly name = 'JobFailedError';
  constructor(
    message: string,
    readonly aborted: boolean,
    readonly cancelRequested: boolean,
  ) {
    super(message);
  }
}

/** A process that lived this long before dying is not in a crash loop. */
const STABLE_WORKER_MS = 30_000;

interface Current {
  job: RunJob;
  onProgress: (p: ProgressMessage) => void;
  resolve: (m: DoneMessage) => void;
  reject: (e: Error) => void;
  lastProgressAt: number;
  stalled: boolean;
  cancelled: boolean;
}

export interface DeviceRunnerOptions {
  stallTimeoutMs: number;
  /** How long a cancelled job may take to stop before the process is killed. */
  cancelGraceMs: number;
  /** Called after each unexpected death (metrics). */
  onDeath?: () => void;
  /** Called each time a (re)started process says it can take a job. */
  onReady?: () => void;
}

export class DeviceRunner {
  private readonly handle: WorkerHandle;
  private current?: Current;
  private ready = false;
  private readyWaiters: (() => void)[] = [];
  private closed = false;
  private startedAt = 0;
  private rapidCrashes = 0;
  private restartTimer?: NodeJS.Timeout;
  private readonly stallTimer: NodeJS.Timeout;
  private loaded: string[] = [];

  constructor(
    readonly device: string,
    workerOptions: WorkerOptions,
    private readonly opts: DeviceRunnerOptions,
  ) {
    this.handle = new WorkerHandle(workerOptions);
    this.handle.on('message', (m) => this.onMessage(m));
    this.handle.on('exit', (e) => this.onExit(e));
    this.stallTimer = setInterval(() => this.checkStall(), Math.min(1000, Math.max(10, opts.stallTimeoutMs / 4)));
    this.stallTimer.unref();
  }

  get pid(): number | undefined {
    return this.handle.pid;
  }

  get alive(): boolean {
    return this.handle.isAlive;
  }

  get busyWith(): string | undefined {
    return this.current?.job.id;
  }

  get loadedModels(): string[] {
    return [...this.loaded];
  }

  /** The process is alive and has said it can take a job. */
  get isReady(): boolean {
    return this.ready && this.handle.isAlive;
  }

  start(): void {
    this.ready = false;
    this.startedAt = Date.now();
    this.handle.start();
    logger.info({ device: this.device, workerPid: this.handle.pid }, 'worker started');
  }

  /** Resolves once the worker process can take a job. */
  whenReady(): Promise<void> {
    if (this.ready && this.handle.isAlive) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /**
   * Runs one job (at once when the process is ready, so cancel() reaches it from the next tick
   * on; else once it is); rejects with WorkerDiedError or JobFailedError.
   */
  run(job: RunJob, onProgress: (p: ProgressMessage) => void): Promise<DoneMessage> {
    if (this.current) return Promise.reject(new Error(`device ${this.device} is busy`));
    if (this.closed) return Promise.reject(new WorkerDiedError('was shut down'));
    // The worker would refuse it (it checks too): fail the job here with the reason instead.
    const checked = runJobSchema.safeParse(job);
    if (!checked.success) return Promise.reject(new JobFailedError(describeIssues(checked.error), false, false));
    if (!this.isReady) return this.whenReady().then(() => this.run(job, onProgress));
    return new Promise<DoneMessage>((resolve, reject) => {
      this.current = { job, onProgress, resolve, reject, lastProgressAt: Date.now(), stalled: false, cancelled: false };
      this.handle.run(job);
    });
  }

  /** Asks the running job to stop at its next step; kills the process if it does not. */
  cancel(jobId: string): boolean {
    const current = this.current;
    if (!current || current.job.id !== jobId) return false;
    current.cancelled = true;
    this.handle.cancel(jobId);
    const t = setTimeout(() => {
      if (this.current === current) void this.handle.kill();
    }, this.opts.cancelGraceMs);
    t.unref();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.stallTimer);
    clearTimeout(this.restartTimer);
    await this.handle.kill();
    for (const w of this.readyWaiters.splice(0)) w();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready') {
      this.ready = true;
      for (const w of this.readyWaiters.splice(0)) w();
      this.opts.onReady?.();
      return;
    }
    const current = this.current;
    if (!current || current.job.id !== m.jobId) return;
    if (m.type === 'progress') {
      current.lastProgressAt = Date.now();
      current.onProgress(m);
      return;
    }
    this.loaded = m.loadedModels;
    this.current = undefined;
    if (m.type === 'done') current.resolve(m);
    else current.reject(new JobFailedError(m.message, m.aborted, current.cancelled));
  }

  private onExit(e: { code: number | null; signal: NodeJS.Signals | null }): void {
    this.ready = false;
    this.loaded = [];
    const current = this.current;
    this.current = undefined;
    if (this.closed) {
      current?.reject(new WorkerDiedError('was shut down'));
      return;
    }
    logger.warn({ device: this.device, code: e.code, signal: e.signal, jobId: current?.job.id }, 'worker died');
    this.opts.onDeath?.();
    if (current) {
      if (current.cancelled) current.reject(new JobFailedError('Cancelled.', true, true));
      else current.reject(new WorkerDiedError(current.stalled ? stallReason(this.opts.stallTimeoutMs) : 'crashed'));
    }
    const lived = Date.now() - this.startedAt;
    this.rapidCrashes = lived > STABLE_WORKER_MS ? 0 : this.rapidCrashes + 1;
    const delay = Math.min(5000, 50 * 2 ** Math.max(0, this.rapidCrashes - 1));
    this.restartTimer = setTimeout(() => {
      if (!this.closed) this.start();
    }, delay);
  }

  private checkStall(): void {
    const current = this.current;
    if (!current || current.stalled || Date.now() - current.lastProgressAt <= this.opts.stallTimeoutMs) return;
    current.stalled = true;
    logger.warn({ jobId: current.job.id, device: this.device }, 'job stalled; killing its worker');
    void this.handle.kill();
  }
}

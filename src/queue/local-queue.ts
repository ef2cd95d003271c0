// The local backend: one worker child process per device, fed by a fair dispatcher in this
// process, with every job state change written to SQLite first so a restart loses nothing.
import { announceOutcome, checkSpec, learnSpeed, newJobRecord, publishPositions } from './job-lifecycle.js';
import { resolve } from 'node:path';
import { jobLogger, logger } from '../log.js';
import { STORAGE_FULL_MESSAGE } from '../store/storage-errors.js';
import type { PreviewImage } from '../diffusion/types.js';
import type { AppConfig } from '../config/env.js';
import type { QueueMetrics } from '../metrics/queue-metrics.js';
import type { ObservableQueue } from '../metrics/server.js';
import { projectPositions } from './estimates.js';
import { BookedQueue, type JobBook } from './job-book.js';
import { FairLines, type Waiting } from './fair-lines.js';
import { listModelFolders, resolveModelName } from './model-names.js';
import { DeviceRunner, JobFailedError, WorkerDiedError, type DoneMessage } from './device-runner.js';
import { assertWithinCaps } from './caps.js';
import { workerDeathMessage } from './worker-failures.js';
import type { CancelResult, CapacityProbe, JobQueue, JobRecord, JobSpec, LocalCapacity, QueuePosition } from './types.js';

export type QueueConfig = Pick<
  AppConfig,
  | 'DEVICES'
  | 'NOOP_STEP_MS'
  | 'MODELS_DIR'
  | 'DEFAULT_MODEL'
  | 'DATA_DIR'
  | 'MAX_QUEUE'
  | 'MAX_QUEUED_PER_USER'
  | 'OUTPUT_RETENTION_DAYS'
  | 'STALL_TIMEOUT_MS'
  | 'DEVICE_MEMORY_BUDGET_MB'
>;

export interface QueueOptions {
  /** Pipelines kept loaded per device when no memory budget is set (default 2). */
  maxLoadedModels?: number;
  /** The process's job book (default: one of its own on DATA_DIR, closed with the queue). */
  book?: JobBook;
  /** Metrics of the book it opens when given none (default: a fresh registry with Node's default metrics). */
  metrics?: QueueMetrics;
  /** How long a cancelled running job may take to stop before its worker is killed. */
  cancelGraceMs?: number;
}

/** How many times a job may be started before a worker death fails it for good. */
const MAX_ATTEMPTS = 2;
const RETENTION_SWEEP_MS = 6 * 3_600_000;

interface Entry extends Waiting {
  record: JobRecord;
  /** The device whose worker died running this job (retry elsewhere when possible). */
  avoidDevice?: string;
}

interface Active {
  entry: Entry;
  startedAt: number;
  cancelRequested: boolean;
  cancelWaiters: ((r: CancelResult) => void)[];
}

/** One device: its runner supervises the worker process (restarts, stalls, cancel grace). */
interface Slot {
  device: string;
  runner: DeviceRunner;
  current?: Active;
  lastBusyAt: number;
}

export interface WorkerInfo {
  device: string;
  pid: number | undefined;
  alive: boolean;
  /** The worker process has started and said it can take jobs. */
  ready: boolean;
  busy: boolean;
  jobId: string | undefined;
  loadedModels: string[];
}

export class LocalJobQueue extends BookedQueue implements JobQueue, ObservableQueue {
  private readonly lines = new FairLines<Entry>();
  private readonly unfinished = new Map<string, JobRecord>();
  private readonly slots: Slot[];
  private readonly lastPublished = new Map<string, QueuePosition>();
  private readonly timers: NodeJS.Timeout[] = [];
  private publishScheduled = false;
  private closed = false;
  private readonly modelsDir: string;
  private readonly noopOnly: boolean;

  constructor(
    private readonly config: QueueConfig,
    opts: QueueOptions = {},
  ) {
    super({ given: opts.book, dataDir: config.DATA_DIR, options: { metrics: opts.metrics, noopStepMs: config.NOOP_STEP_MS } });
    this.book.addLive((id) => this.unfinished.get(id));
    this.modelsDir = resolve(config.MODELS_DIR);
    this.noopOnly = config.DEVICES.every((d) => d.startsWith('noop'));

    this.restoreUnfinished();
    const sweep = () => this.book.tryWrite('retention sweep', () => this.book.files.sweep(this.book.store, config.OUTPUT_RETENTION_DAYS));
    sweep();
    this.timers.push(setInterval(sweep, RETENTION_SWEEP_MS));
    for (const t of this.timers) t.unref();

    const workerOptions = {
      modelsDir: this.modelsDir,
      noopStepMs: config.NOOP_STEP_MS,
      maxLoadedModels: opts.maxLoadedModels ?? 2,
      memoryBudgetMb: config.DEVICE_MEMORY_BUDGET_MB,
    };
    this.slots = config.DEVICES.map((device) => {
      const runner = new DeviceRunner(
        device,
        { ...workerOptions, device },
        {
          stallTimeoutMs: config.STALL_TIMEOUT_MS,
          cancelGraceMs: opts.cancelGraceMs ?? 10_000,
          onDeath: () => {
            this.book.metrics.workerRestarts.inc({ device });
            this.schedulePublish();
          },
          onReady: () => this.pump(),
        },
      );
      runner.start();
      return { device, runner, lastBusyAt: 0 };
    });
    this.schedulePublish();
  }

  // ---- public API -------------------------------------------------------------------------

  async submit(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }> {
    if (this.closed) throw new Error('The queue is shutting down; try again in a minute.');
    const userId = spec.requester.userId;
    assertWithinCaps(this.lines.countForUser(userId), this.lines.size, this.config);
    const model = spec.kind === 'upscale' ? spec.model : this.resolveModel(spec.model);
    checkSpec(spec);
    const { initImage, maskImage, controlImage, ...rest } = spec;
    const record = newJobRecord(rest, model);
    const id = record.id;
    if (initImage) await this.book.writeInput(record, initImage, maskImage);
    if (controlImage) await this.book.writeControlImage(record, controlImage);
    if (this.closed) throw new Error('The queue is shutting down; try again in a minute.');
    const seq = this.book.must('job insert', () => this.book.store.insert(record));
    this.unfinished.set(id, record);
    this.lines.push({ id, userId, seq, record });
    jobLogger(id, { userId, kind: spec.kind, model }).info('job queued');
    const position = this.projection().get(id)?.pos ?? { jobId: id, position: 0, etaMs: 0 };
    this.lastPublished.set(id, position);
    this.book.emit('queued', record, position);
    this.pump();
    return { job: record, position };
  }

  async cancel(jobId: string, by: { userId: string; isAdmin?: boolean }): Promise<CancelResult> {
    const record = this.get(jobId);
    if (!record) return 'not_found';
    if (!by.isAdmin && record.requester.userId !== by.userId) return 'forbidden';
    if (!this.unfinished.has(jobId)) return 'already_finished';
    const waiting = this.lines.remove(jobId);
    if (waiting) {
      this.finish(waiting.record, 'cancelled');
      this.pump();
      return 'cancelled';
    }
    const slot = this.slots.find((s) => s.current?.entry.id === jobId);
    if (!slot?.current) return 'already_finished';
    const active = slot.current;
    active.cancelRequested = true;
    return new Promise<CancelResult>((resolveCancel) => {
      active.cancelWaiters.push(resolveCancel);
      // The runner kills a worker stuck inside one long native call after the grace.
      slot.runner.cancel(jobId);
    });
  }

  positions(): QueuePosition[] {
    const running = this.slots.filter((s) => s.current).map((s) => ({ jobId: s.current!.entry.id, position: 0, etaMs: 0, device: s.device }));
    return [...running, ...[...this.projection().values()].map((p) => (p.device ? { ...p.pos, device: p.device } : p.pos))];
  }

  /** The devices, and when one would start `job` if it were submitted now (fair order included). */
  localCapacity(job: CapacityProbe): LocalCapacity {
    if (this.slots.length === 0) return { devices: 0, etaMs: 0 };
    const id = '#capacity-probe';
    const record: JobRecord = { ...newJobRecord(job), id };
    this.lines.push({ id, userId: job.requester.userId, seq: Number.MAX_SAFE_INTEGER, record });
    try {
      return { devices: this.slots.length, etaMs: this.projection().get(id)?.pos.etaMs ?? 0 };
    } finally {
      this.lines.remove(id);
    }
  }

  /** Usable at once: jobs wait in the lines until a worker is ready. */
  whenReady(): Promise<void> {
    return Promise.resolve();
  }

  /** Worker processes (tests kill them by pid; /healthz lists them). */
  workers(): WorkerInfo[] {
    return this.slots.map((s) => ({
      device: s.device,
      pid: s.runner.pid,
      alive: s.runner.alive,
      ready: s.runner.isReady,
      busy: s.current !== undefined,
      jobId: s.current?.entry.id,
      loadedModels: s.runner.loadedModels,
    }));
  }

  health(): ReturnType<ObservableQueue['health']> {
    const workers = this.slots.map((s) => ({ device: s.device, pid: s.runner.pid, alive: s.runner.alive, busy: !!s.current }));
    return { ok: !this.closed && workers.some((w) => w.alive), workers, queued: this.lines.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const slot of this.slots) {
      const active = slot.current;
      if (!active) continue;
      slot.current = undefined;
      // Interrupted, not failed: the next start resumes it first and the run does not count.
      const r = active.entry.record;
      r.state = 'queued';
      r.attempts = Math.max(0, r.attempts - 1);
      delete r.startedAt;
      delete r.device;
      this.book.save(r, { resumeFirst: true });
      for (const w of active.cancelWaiters) w('cancelled');
      jobLogger(r.id).info('job interrupted by shutdown; it resumes on the next start');
    }
    await Promise.all(this.slots.map((s) => s.runner.close()));
    this.closeBook();
  }

  // ---- outcomes -------------------------------------------------------------------------

  /** What became of a started job: its runner's promise settled (done, failed, or the worker died). */
  private onOutcome(slot: Slot, active: Active, outcome: { done: DoneMessage } | { error: unknown }): void {
    if (this.closed || slot.current !== active) return;
    slot.current = undefined;
    slot.lastBusyAt = Date.now();
    const record = active.entry.record;
    if ('error' in outcome && outcome.error instanceof WorkerDiedError) {
      this.recoverJob(slot, active, outcome.error.why);
      this.pump();
      return;
    }
    const runSeconds = (Date.now() - active.startedAt) / 1000;
    this.book.metrics.runSeconds.observe({ device: slot.device, kind: record.kind }, runSeconds);
    if ('done' in outcome) {
      const m = outcome.done;
      record.outputs = m.outputs;
      record.seeds = m.seeds;
      record.nsfw = m.nsfw;
      record.timings = m.timings;
      this.book.tryWrite('step statistics', () => learnSpeed(record, slot.device, this.book.stats, this.book.estimator));
      this.finish(record, 'done');
      for (const w of active.cancelWaiters) w('already_finished');
    } else if (outcome.error instanceof JobFailedError && outcome.error.aborted && active.cancelRequested) {
      this.finish(record, 'cancelled');
      for (const w of active.cancelWaiters) w('cancelled');
    } else {
      record.error = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
      this.finish(record, 'failed');
      for (const w of active.cancelWaiters) w('already_finished');
    }
    this.pump();
  }

  /** The job whose worker died: cancelled if asked, retried once, else failed with the reason. */
  private recoverJob(slot: Slot, active: Active, why: string): void {
    const record = active.entry.record;
    if (active.cancelRequested) {
      this.finish(record, 'cancelled');
      for (const w of active.cancelWaiters) w('cancelled');
      return;
    }
    if (record.attempts >= MAX_ATTEMPTS) {
      record.error = workerDeathMessage(why, true);
      this.finish(record, 'failed');
      return;
    }
    jobLogger(record.id, { device: slot.device }).warn(`worker ${why}; retrying the job once`);
    record.state = 'queued';
    delete record.startedAt;
    this.book.save(record, { resumeFirst: true });
    this.lines.pushFront({ ...active.entry, avoidDevice: slot.device });
  }

  // ---- dispatch ---------------------------------------------------------------------------

  /** Starts waiting jobs on idle workers, then tells everyone where they stand. */
  private pump(): void {
    if (this.closed) return;
    for (;;) {
      if (this.lines.size === 0 || !this.slots.some((s) => this.isIdle(s))) break;
      const entry = this.lines.shift()!;
      this.startOn(this.chooseSlot(entry), entry);
    }
    this.schedulePublish();
  }

  private isIdle(slot: Slot): boolean {
    return slot.runner.isReady && !slot.current;
  }

  /** An idle device that already holds the model, else the least loaded; avoid a device that just failed the job. */
  private chooseSlot(entry: Entry): Slot {
    const idle = this.slots.filter((s) => this.isIdle(s));
    const preferred = idle.filter((s) => s.device !== entry.avoidDevice);
    const pool = preferred.length > 0 ? preferred : idle;
    const warm = pool.filter((s) => s.runner.loadedModels.includes(entry.record.model));
    const candidates = warm.length > 0 ? warm : pool;
    return candidates.reduce((a, b) => {
      const loadedA = a.runner.loadedModels.length;
      const loadedB = b.runner.loadedModels.length;
      return loadedB < loadedA || (loadedB === loadedA && b.lastBusyAt < a.lastBusyAt) ? b : a;
    });
  }

  private startOn(slot: Slot, entry: Entry): void {
    const record = entry.record;
    const now = Date.now();
    record.state = 'running';
    record.startedAt = now;
    record.device = slot.device;
    record.attempts += 1;
    if (!this.book.save(record)) {
      // Not started: a job whose state cannot be kept is not run (save() logged why).
      record.error = STORAGE_FULL_MESSAGE;
      this.finish(record, 'failed');
      return;
    }
    const active: Active = { entry, startedAt: now, cancelRequested: false, cancelWaiters: [] };
    slot.current = active;
    this.lastPublished.delete(record.id);
    this.book.metrics.waitSeconds.observe({ device: slot.device }, (now - record.createdAt) / 1000);
    const job = {
      id: record.id,
      kind: record.kind,
      model: record.model,
      request: record.request,
      initImagePath: record.initImagePath,
      maskImagePath: record.maskImagePath,
      controlImagePath: record.controlImagePath,
      upscaleFactor: record.upscaleFactor,
      outputDir: this.book.files.outputDir(record.id),
    };
    const onProgress = (p: { step: number; totalSteps: number; preview?: PreviewImage }) => {
      if (slot.current === active) this.book.emit('progress', record, { step: p.step, totalSteps: p.totalSteps, preview: p.preview });
    };
    slot.runner.run(job, onProgress).then(
      (done) => this.onOutcome(slot, active, { done }),
      (error: unknown) => this.onOutcome(slot, active, { error }),
    );
    jobLogger(record.id, { device: slot.device, attempt: record.attempts }).info('job started');
    this.book.emit('started', record);
  }

  private finish(record: JobRecord, wanted: 'done' | 'failed' | 'cancelled'): void {
    const state = this.book.settle(record, wanted);
    this.unfinished.delete(record.id);
    this.lastPublished.delete(record.id);
    this.book.metrics.jobsTotal.inc({ outcome: state });
    announceOutcome(this.book.emit, record, state);
    this.schedulePublish();
  }

  private resolveModel(requested: string): string {
    const known = listModelFolders(this.modelsDir);
    const fallback = this.config.DEFAULT_MODEL ?? known[0] ?? (this.noopOnly ? 'noop' : undefined);
    // Simulated devices run any name; real ones need the folder.
    return resolveModelName(requested, fallback, this.noopOnly ? undefined : known, this.modelsDir);
  }

  // ---- positions --------------------------------------------------------------------------

  private projection(): Map<string, { pos: QueuePosition; device: string | undefined }> {
    const now = Date.now();
    const devices = this.slots.map((s) => ({
      device: s.device,
      busyForMs: s.current ? this.book.estimator.runMs(s.current.entry.record, s.device) - (now - s.current.startedAt) : 0,
    }));
    const waiting = this.lines.ordered().map((e) => e.record);
    const projected = projectPositions(waiting, devices, this.book.estimator);
    return new Map(projected.map((p) => [p.pos.jobId, p]));
  }

  /** Coalesces bursts of changes into one 'position' round. */
  private schedulePublish(): void {
    if (this.publishScheduled || this.closed) return;
    this.publishScheduled = true;
    setImmediate(() => {
      this.publishScheduled = false;
      if (!this.closed) this.publishPositions();
    });
  }

  private publishPositions(): void {
    publishPositions(this.projection().values(), {
      running: this.slots.map((s) => ({ device: s.device, busy: s.current !== undefined })),
      waiting: this.lines.size,
      lastPublished: this.lastPublished,
      events: this.book.emitter,
      metrics: this.book.metrics,
    });
  }

  // ---- restore ----------------------------------------------------------------------------

  /** Queued jobs line up again in their order; jobs interrupted mid-run go first. */
  private restoreUnfinished(): void {
    for (const { record, seq, resumeFirst } of this.book.store.unfinished()) {
      // Imagen jobs are run in the bot process by ProviderQueue, not on a device.
      if (record.provider === 'imagen') continue;
      if (record.state === 'running') {
        // The parent died mid-run: not the job's fault, so the run does not count.
        record.state = 'queued';
        record.attempts = Math.max(0, record.attempts - 1);
        delete record.startedAt;
        this.book.save(record, { resumeFirst: true });
      }
      this.unfinished.set(record.id, record);
      const entry: Entry = { id: record.id, userId: record.requester.userId, seq, record };
      if (resumeFirst) this.lines.pushFront(entry);
      else this.lines.push(entry);
    }
    if (this.unfinished.size > 0) logger.info({ count: this.unfinished.size }, 'resumed unfinished jobs');
  }
}

// The bot's queue with the cloud provider (Google's Gemini image models) beside the devices:
// provider-'imagen' jobs (the id is kept from the Imagen days, as stored jobs carry it) are run in
// this process by a CloudRunner (a web API needs no device worker), everything else goes to the
// backend (local worker processes or Redis) as before. Both kinds are rows of the same jobs table
// with the same events, so caps, quotas, restarts, progress and delivery treat them alike. A
// local job that failed for good can be re-run in the cloud once, when the provider policy says so.
import { newJobRecord } from './job-lifecycle.js';
import { EventEmitter } from 'node:events';
import type { Registry } from 'prom-client';
import { InputError } from '../diffusion/errors.js';
import { jobLogger, logger } from '../log.js';
import { CloudRunner, type RunnerProvider } from './cloud-runner.js';
import { CloudUsageStore } from './cloud-usage.js';
import type { FileStore } from '../store/files.js';
import type { JobStore } from '../store/jobs.js';
import { assertWithinCaps, type Caps } from './caps.js';
import type { ManagedJobQueue } from './index.js';
import { JobBook } from './job-book.js';
import type { CancelResult, CapacityProbe, JobProvider, JobRecord, JobSpec, LocalCapacity, QueueEvents, QueuePosition } from './types.js';

/** What the queue needs of the cloud provider (CloudProvider from src/providers/cloud.ts). */
export interface CloudProviderLike extends RunnerProvider {
  /** False until GOOGLE_API_KEY (or Vertex AI) is set. */
  readonly configured: boolean;
}
/** @deprecated The old name of CloudProviderLike. */
export type ImagenProviderLike = CloudProviderLike;

export interface ProviderQueueOptions {
  dataDir: string;
  /** The process's job book (default: one of its own on dataDir, closed with this queue). */
  book?: JobBook;
  /** Draws provider-'imagen' (cloud) jobs (an unconfigured one fails them with a message saying so). */
  cloud: CloudProviderLike;
  /** Cloud jobs in flight at once. */
  concurrency: number;
  /** Caps on waiting cloud jobs (the same numbers as for device jobs). */
  caps: Caps;
  /** Store owner of this process's jobs (the Redis backend's QUEUE_OWNER); all owners when absent. */
  owner?: string;
}

/** Asked when a local job failed for good: true re-runs it in the cloud. */
export type LocalFailureHandler = (job: JobRecord, error: string) => boolean;

const EVENTS = ['queued', 'position', 'started', 'progress', 'done', 'failed', 'cancelled'] as const;

export class ProviderQueue implements ManagedJobQueue {
  private readonly book: JobBook;
  private readonly store: JobStore;
  private readonly files: FileStore;
  private readonly runner: CloudRunner;
  readonly cloudUsage: CloudUsageStore;
  private readonly events = new EventEmitter();
  private onLocalFailure?: LocalFailureHandler;
  private closed = false;

  constructor(
    private readonly inner: ManagedJobQueue,
    private readonly opts: ProviderQueueOptions,
  ) {
    this.book = opts.book ?? new JobBook(opts.dataDir);
    this.store = this.book.store;
    this.files = this.book.files;
    this.events.setMaxListeners(50);
    this.cloudUsage = new CloudUsageStore(this.book.db);
    this.runner = new CloudRunner({
      provider: opts.cloud,
      usage: this.cloudUsage,
      book: this.book,
      files: this.files,
      concurrency: opts.concurrency,
      emit: (event, ...args) => this.events.emit(event, ...args),
    });
    for (const event of EVENTS) {
      inner.on(event, ((...args: unknown[]) => {
        if (event === 'failed' && this.fallBack(args[0] as JobRecord, args[1] as string)) return;
        this.events.emit(event, ...args);
      }) as QueueEvents[typeof event]);
    }
    this.restore();
  }

  // ---- routing helpers for the provider policy ------------------------------------------------

  /** Sets who decides whether a failed local job is re-run in the cloud (the bot's provider policy). */
  setLocalFailureHandler(handler: LocalFailureHandler): void {
    this.onLocalFailure = handler;
  }

  get imagenConfigured(): boolean {
    return this.opts.cloud.configured;
  }

  /** The cloud model new jobs go to, e.g. gemini-3.1-flash-image. */
  get imagenModel(): string {
    return this.opts.cloud.model;
  }

  /** The cloud provider edits input images (V, /imagine image:) itself. */
  get cloudEdits(): boolean {
    return this.opts.cloud.edits === true;
  }

  /** Why the cloud provider cannot draw this request at all, if it cannot. */
  imagenUnsupported(job: Pick<JobSpec, 'kind' | 'request' | 'maskImage'> & { maskImagePath?: string }): string | undefined {
    if (job.kind === 'upscale') return 'Upscaling runs on the local engine only.';
    if (job.request.edit) return 'Zoom, pan and creative upscale run on the local engine only.';
    if (job.maskImage || job.maskImagePath) return 'Inpainting with a mask runs on the local engine only.';
    if (job.request.controlnet) return 'ControlNet runs on the local engine only.';
    if (job.kind === 'img2img' && !this.cloudEdits) {
      return `${this.opts.cloud.label} can't start from an image; image-to-image runs on the local engine only.`;
    }
    // The size check only needs the numbers; an edit's image is checked when it is sent.
    return this.opts.cloud.unsupported?.({ ...job.request });
  }

  localCapacity(job: CapacityProbe): LocalCapacity {
    return this.inner.localCapacity?.(job) ?? { devices: this.inner.workers().length, etaMs: 0 };
  }

  /** Images asked for since `since` from a provider, in one guild, or in all with `guildId` undefined. */
  imagesSince(provider: JobProvider, since: number, guildId?: string | null): number {
    return this.store.imagesSince(provider, since, guildId);
  }

  // ---- JobQueue -------------------------------------------------------------------------------

  get metricsRegistry(): Registry {
    return this.inner.metricsRegistry;
  }

  submit(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }> {
    if (spec.provider !== 'imagen') return this.inner.submit(spec);
    // Synchronous up to the insert, so a daily-cap check just before cannot race another submit.
    try {
      return this.submitCloud(spec);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  cancel(jobId: string, by: { userId: string; isAdmin?: boolean }): Promise<CancelResult> {
    return this.runner.has(jobId) ? this.runner.cancel(jobId, by) : this.inner.cancel(jobId, by);
  }

  get(jobId: string): JobRecord | undefined {
    return this.runner.get(jobId) ?? this.inner.get(jobId);
  }

  outputs(jobId: string): Promise<Buffer[]> {
    return this.runner.has(jobId) ? Promise.resolve([]) : this.inner.outputs(jobId);
  }

  input(jobId: string): Promise<Buffer | undefined> {
    const record = this.runner.get(jobId);
    return record ? this.files.jobInput(record) : this.inner.input(jobId);
  }

  positions(): QueuePosition[] {
    return [...this.inner.positions(), ...this.runner.positions()];
  }

  setMessage(jobId: string, messageId: string): void {
    if (this.runner.has(jobId)) this.runner.setMessage(jobId, messageId);
    else this.inner.setMessage(jobId, messageId);
  }

  on<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void {
    this.events.on(event, handler as (...args: unknown[]) => void);
  }

  off<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void {
    this.events.off(event, handler as (...args: unknown[]) => void);
  }

  whenReady(): Promise<void> {
    return this.inner.whenReady();
  }

  workers(): ReturnType<ManagedJobQueue['workers']> {
    return this.inner.workers();
  }

  /** Healthy with no device at all when the cloud draws instead (DEVICES=none). */
  health(): ReturnType<ManagedJobQueue['health']> {
    const h = this.inner.health();
    const cloudOnly = !this.closed && h.workers.length === 0 && this.opts.cloud.configured;
    return { ...h, ok: h.ok || cloudOnly, queued: (h.queued ?? 0) + this.runner.waitingCount };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.runner.close();
    if (!this.opts.book) this.book.close();
    await this.inner.close();
    this.events.removeAllListeners();
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Inserts the job (synchronously, for the caps); an edit's input image is written before it lines up. */
  private submitCloud(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }> {
    if (this.closed) throw new Error('The queue is shutting down; try again in a minute.');
    const userId = spec.requester.userId;
    assertWithinCaps(this.runner.waitingFor(userId), this.runner.waitingCount, this.opts.caps);
    const why = this.imagenUnsupported(spec);
    if (why) throw new InputError(why);
    if (spec.kind === 'img2img' && !spec.initImage) throw new InputError('An image edit needs an input image.');
    const { initImage, maskImage: _mask, ...rest } = spec;
    const record = newJobRecord({ ...rest, provider: 'imagen' });
    this.book.must('job insert', () => this.store.insert(record, this.opts.owner ?? ''));
    jobLogger(record.id, { userId, kind: spec.kind, provider: 'imagen' }).info('job queued');
    const lineUp = () => {
      const position = this.runner.add(record);
      this.events.emit('queued', record, position);
      this.runner.pump();
      return { job: record, position };
    };
    if (!initImage || spec.kind !== 'img2img') return Promise.resolve(lineUp());
    return this.files.writeInput(record.id, initImage).then(
      (path) => {
        record.initImagePath = path;
        // JobStore.update leaves init_image_path alone (device jobs write it before the insert).
        this.book.must('input image', () => this.store.setInitImagePath(record.id, path));
        return lineUp();
      },
      (err: unknown) => {
        record.error = 'The input image could not be stored.';
        this.book.settle(record, 'failed');
        throw this.book.storageFailure('input image', err, record.id);
      },
    );
  }

  /** A local job failed for good: when the policy says so, the same job is re-run in the cloud. */
  private fallBack(job: JobRecord, error: string): boolean {
    if (this.closed || job.provider === 'imagen' || !this.onLocalFailure) return false;
    let again = false;
    try {
      again = this.onLocalFailure(job, error);
    } catch (err) {
      logger.error({ err, jobId: job.id }, 'provider policy failed on a failed job');
    }
    if (!again) return false;
    job.provider = 'imagen';
    job.state = 'queued';
    job.error = error;
    delete job.startedAt;
    delete job.finishedAt;
    delete job.device;
    this.book.save(job);
    jobLogger(job.id).info({ error }, 'local job failed; re-running it in the cloud');
    const position = this.runner.add(job);
    this.events.emit('queued', job, position);
    this.runner.pump();
    return true;
  }

  /** Unfinished cloud jobs from the last run line up again, interrupted ones first. */
  private restore(): void {
    let count = 0;
    // The store lists interrupted jobs first, then the rest in submission order.
    for (const { record } of this.store.unfinished(this.opts.owner)) {
      if (record.provider !== 'imagen') continue;
      if (record.state === 'running') {
        // The bot died mid-call: not the job's fault, so that try does not count.
        record.state = 'queued';
        record.attempts = Math.max(0, record.attempts - 1);
        delete record.startedAt;
        delete record.device;
        this.book.save(record, { resumeFirst: true });
      }
      this.runner.add(record);
      count++;
    }
    if (count === 0) return;
    logger.info({ count }, 'resumed unfinished cloud jobs');
    // After the bot has attached its listeners, so their start is shown.
    setImmediate(() => this.runner.pump());
  }
}

// Runs the cloud provider's jobs (provider 'imagen', Google's Gemini image models) in the bot
// process: no device worker is needed to wait on a web API, so a few jobs run at once
// (IMAGEN_CONCURRENCY) and the rest wait in arrival order. Every state change goes to the same
// jobs table and the outputs to the same files as device jobs, so restarts, buttons and delivery
// work the same whatever drew the picture; the tokens each attempt was billed go to cloud_usage.
import { announceOutcome, type EmitQueueEvent } from './job-lifecycle.js';
import { GenerationAbortedError } from '../diffusion/errors.js';
import type { GenerationRequest } from '../diffusion/types.js';
import { jobLogger } from '../log.js';
import type { CancelResult, JobRecord, QueuePosition } from './types.js';
import type { FileStore } from '../store/files.js';
import { StorageFullError } from '../store/storage-errors.js';
import type { JobBook } from './job-book.js';
import type { CloudProvider } from '../providers/cloud.js';
import { ProviderError, type ProviderUsage } from '../providers/types.js';
import type { CloudUsageStore } from './cloud-usage.js';

/** What the runner needs of the cloud provider (GeminiImageProvider, or any provider in tests). */
export type RunnerProvider = Pick<CloudProvider, 'id' | 'label' | 'model' | 'generate' | 'unsupported'> & { readonly edits?: boolean };

type Emit = EmitQueueEvent;

export interface CloudRunnerDeps {
  provider: RunnerProvider;
  /** Job state writes that survive a full disk (the process's job book). */
  book: Pick<JobBook, 'save' | 'settle' | 'storageFailure'>;
  files: FileStore;
  /** Cloud jobs in flight at once. */
  concurrency: number;
  emit: Emit;
  /** Where billed tokens go (absent: not recorded). */
  usage?: CloudUsageStore;
}

interface Active {
  record: JobRecord;
  controller: AbortController;
  cancelRequested: boolean;
  cancelWaiters: ((r: CancelResult) => void)[];
  done: Promise<void>;
}

/** What the user reads when the cloud call failed; a job re-run after a local failure says both. */
function failureMessage(err: unknown, localFailure: string | undefined): string {
  const why =
    err instanceof ProviderError
      ? err.userMessage
      : err instanceof StorageFullError
        ? err.message
        : err instanceof GenerationAbortedError
          ? 'The cloud call was interrupted.'
          : `The cloud provider failed: ${err instanceof Error ? err.message : String(err)}`;
  return localFailure ? `The local engine failed (${localFailure}), and the cloud provider failed too: ${why}` : why;
}

export class CloudRunner {
  private readonly waiting: JobRecord[] = [];
  private readonly active = new Map<string, Active>();
  /** Last position told per waiting job. */
  private readonly published = new Map<string, number>();
  private closed = false;

  constructor(private readonly d: CloudRunnerDeps) {}

  has(jobId: string): boolean {
    return this.active.has(jobId) || this.waiting.some((r) => r.id === jobId);
  }

  get(jobId: string): JobRecord | undefined {
    return this.active.get(jobId)?.record ?? this.waiting.find((r) => r.id === jobId);
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  waitingFor(userId: string): number {
    return this.waiting.filter((r) => r.requester.userId === userId).length;
  }

  /** Lines up a stored, queued job; call pump() once it is announced. */
  add(record: JobRecord): QueuePosition {
    this.waiting.push(record);
    const pos = this.positionOf(record.id);
    this.published.set(record.id, pos.position);
    return pos;
  }

  /** Starts waiting jobs while fewer than `concurrency` calls are in flight. */
  pump(): void {
    while (!this.closed && this.active.size < this.d.concurrency && this.waiting.length > 0) {
      this.start(this.waiting.shift()!);
    }
    if (this.closed) return;
    // Tell waiting jobs whose place changed (positions only ever move up).
    for (const r of this.waiting) {
      const pos = this.positionOf(r.id);
      if (this.published.get(r.id) === pos.position) continue;
      this.published.set(r.id, pos.position);
      this.d.emit('position', pos);
    }
  }

  positions(): QueuePosition[] {
    const running = [...this.active.keys()].map((jobId) => ({ jobId, position: 0, etaMs: 0 }));
    return [...running, ...this.waiting.map((r) => this.positionOf(r.id))];
  }

  setMessage(jobId: string, messageId: string): void {
    const record = this.get(jobId);
    if (!record) return;
    record.messageId = messageId;
    this.d.book.save(record);
  }

  async cancel(jobId: string, by: { userId: string; isAdmin?: boolean }): Promise<CancelResult> {
    const record = this.get(jobId);
    if (!record) return 'not_found';
    if (!by.isAdmin && record.requester.userId !== by.userId) return 'forbidden';
    const i = this.waiting.findIndex((r) => r.id === jobId);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.finish(record, 'cancelled');
      this.pump();
      return 'cancelled';
    }
    const active = this.active.get(jobId)!;
    active.cancelRequested = true;
    return new Promise<CancelResult>((resolve) => {
      active.cancelWaiters.push(resolve);
      active.controller.abort();
    });
  }

  /** Stops taking work; calls in flight are abandoned and their jobs go back to `queued`, first in line next start. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const active = [...this.active.values()];
    for (const a of active) {
      const r = a.record;
      // Interrupted, not failed: the next start runs it again and this try does not count.
      r.state = 'queued';
      r.attempts = Math.max(0, r.attempts - 1);
      delete r.startedAt;
      delete r.device;
      this.d.book.save(r, { resumeFirst: true });
      for (const w of a.cancelWaiters) w('cancelled');
      a.controller.abort();
      jobLogger(r.id).info('cloud job interrupted by shutdown; it resumes on the next start');
    }
    await Promise.all(active.map((a) => a.done));
  }

  private positionOf(jobId: string): QueuePosition {
    const i = this.waiting.findIndex((r) => r.id === jobId);
    return { jobId, position: i + 1, etaMs: 0 };
  }

  private start(record: JobRecord): void {
    this.published.delete(record.id);
    record.state = 'running';
    record.startedAt = Date.now();
    record.device = this.d.provider.model;
    record.attempts += 1;
    this.d.book.save(record);
    const active: Active = { record, controller: new AbortController(), cancelRequested: false, cancelWaiters: [], done: Promise.resolve() };
    this.active.set(record.id, active);
    jobLogger(record.id, { device: record.device, attempt: record.attempts }).info('cloud job started');
    this.d.emit('started', record);
    active.done = this.run(active);
  }

  /** The request a stored job describes; an edit's input image is read back from its file. */
  private async requestOf(record: JobRecord): Promise<GenerationRequest> {
    if (record.kind === 'upscale' || (record.kind === 'img2img' && !this.d.provider.edits)) {
      throw new ProviderError({
        kind: 'config',
        retryable: false,
        userMessage: `${this.d.provider.label} can't take this job (${record.kind === 'upscale' ? 'upscaling' : 'image-to-image'}); it needs the local engine.`,
      });
    }
    if (record.kind === 'txt2img') return { ...record.request };
    const initImage = await this.d.files.jobInput(record);
    if (!initImage) throw new ProviderError({ kind: 'config', retryable: false, userMessage: 'The input image of this job is gone, so it cannot be edited.' });
    return { ...record.request, initImage };
  }

  private recordUsage(record: JobRecord, usage: ProviderUsage | undefined, images: number): void {
    if (!usage || !this.d.usage) return;
    try {
      this.d.usage.record({
        ...usage,
        jobId: record.id,
        attempt: record.attempts,
        guildId: record.requester.guildId,
        model: this.d.provider.model,
        images,
        at: Date.now(),
      });
    } catch (err) {
      jobLogger(record.id).warn({ err }, 'could not record the cloud usage');
    }
  }

  private async run(active: Active): Promise<void> {
    const record = active.record;
    // Set before the run only on a job re-run after its local run failed (see ProviderQueue).
    const localFailure = record.error;
    try {
      const result = await this.d.provider.generate(await this.requestOf(record), { signal: active.controller.signal });
      this.recordUsage(record, result.usage, result.images.length);
      if (this.closed) return;
      const outputs = await this.d.files
        .writeOutputs(
          record.id,
          result.images.map((i) => i.png),
        )
        .catch((err: unknown) => {
          throw this.d.book.storageFailure('job outputs', err, record.id);
        });
      if (this.closed) return;
      record.outputs = outputs;
      record.seeds = result.images.map((i) => i.seed);
      record.nsfw = [];
      record.timings = { totalMs: result.timings.totalMs, stepMs: 0 };
      record.device = result.model;
      if (result.filtered.length > 0) jobLogger(record.id).info({ filtered: result.filtered }, 'the cloud provider withheld some images');
      this.settle(active, 'done');
    } catch (err) {
      if (err instanceof ProviderError) this.recordUsage(record, err.usage, 0);
      if (this.closed) return;
      if (active.cancelRequested && (err instanceof GenerationAbortedError || active.controller.signal.aborted)) {
        this.settle(active, 'cancelled');
        return;
      }
      record.error = failureMessage(err, localFailure);
      jobLogger(record.id).warn({ err: err instanceof Error ? err.message : String(err) }, 'cloud call failed');
      this.settle(active, 'failed');
    }
  }

  private settle(active: Active, state: 'done' | 'failed' | 'cancelled'): void {
    this.active.delete(active.record.id);
    this.finish(active.record, state);
    for (const w of active.cancelWaiters) w(state === 'cancelled' ? 'cancelled' : 'already_finished');
    this.pump();
  }

  private finish(record: JobRecord, state: 'done' | 'failed' | 'cancelled'): void {
    this.published.delete(record.id);
    // A 'done' the disk cannot take ends as a failure saying so (the job book keeps retrying the row).
    announceOutcome(this.d.emit, record, this.d.book.settle(record, state));
  }
}

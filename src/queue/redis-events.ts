// The Redis backend's side of BullMQ's queue events: a worker host started, advanced, finished
// or gave back one of our jobs. Each becomes the job's state in the store and a queue event.
import type { QueueEvents } from 'bullmq';
import { jobLogger, logger } from '../log.js';
import { STORAGE_FULL_MESSAGE, StorageFullError } from '../store/storage-errors.js';
import type { JobBook } from './job-book.js';
import { learnSpeed } from './job-lifecycle.js';
import type { RedisJobs } from './redis-jobs.js';
import { CANCELLED_REASON, redisProgressSchema, redisResultSchema } from './redis-protocol.js';

export class RedisEventHandler {
  constructor(
    private readonly jobs: RedisJobs,
    private readonly book: JobBook,
    private readonly hooks: { closed: () => boolean; changed: () => void },
  ) {}

  listen(events: QueueEvents): void {
    const guard =
      <A>(fn: (args: A) => Promise<void> | void) =>
      (args: A) => {
        if (this.hooks.closed()) return;
        const handle = () => Promise.resolve(fn(args)).catch((err: unknown) => logger.error({ err }, 'queue event handling failed'));
        const jobId = (args as { jobId?: unknown }).jobId;
        const pending = typeof jobId === 'string' ? this.jobs.announcing.get(jobId) : undefined;
        // In arrival order, once the submit has announced the job.
        if (pending) void pending.gate.then(() => (this.hooks.closed() ? undefined : handle()));
        else void handle();
      };
    events.on(
      'progress',
      guard(({ jobId, data }: { jobId: string; data: unknown }) => this.onProgress(jobId, data)),
    );
    events.on(
      'completed',
      guard(({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => this.onCompleted(jobId, returnvalue)),
    );
    events.on(
      'failed',
      guard(({ jobId, failedReason }: { jobId: string; failedReason: string }) => this.onFailed(jobId, failedReason)),
    );
    events.on(
      'waiting',
      guard(({ jobId }: { jobId: string }) => this.onWaiting(jobId)),
    );
    events.on(
      'removed',
      guard(({ jobId }: { jobId: string }) => this.onRemoved(jobId)),
    );
    events.on(
      'stalled',
      guard(({ jobId }: { jobId: string }) => jobLogger(jobId).warn('job stalled on its worker host; BullMQ requeues it')),
    );
    events.on(
      'added',
      guard(() => this.hooks.changed()),
    );
    events.on(
      'active',
      guard(() => this.hooks.changed()),
    );
    events.on('error', (err) => logger.warn({ err: err.message }, 'queue events error'));
  }

  async onProgress(jobId: string, raw: unknown): Promise<void> {
    const record = this.jobs.tracked.get(jobId);
    if (!record || this.jobs.settling.has(jobId)) return;
    const parsed = redisProgressSchema.safeParse(raw);
    if (!parsed.success) return;
    const p = parsed.data;
    if (record.state !== 'running' || record.attempts !== p.attempt || record.device !== p.device) {
      const now = Date.now();
      record.state = 'running';
      record.startedAt = now;
      record.device = p.device;
      record.attempts = p.attempt;
      this.book.save(record);
      this.jobs.lastPublished.delete(jobId);
      this.book.metrics.waitSeconds.observe({ device: p.device }, (now - record.createdAt) / 1000);
      jobLogger(jobId, { device: p.device, attempt: p.attempt }).info('job started');
      this.book.emit('started', record);
      this.hooks.changed();
    }
    if (p.step > 0) {
      const preview = p.preview && { width: p.preview.width, height: p.preview.height, rgb: new Uint8Array(Buffer.from(p.preview.rgb, 'base64')) };
      this.book.emit('progress', record, { step: p.step, totalSteps: p.totalSteps, preview });
    }
  }

  async onCompleted(jobId: string, raw: unknown): Promise<void> {
    const record = this.jobs.tracked.get(jobId);
    if (!record || this.jobs.settling.has(jobId)) return;
    this.jobs.settling.add(jobId);
    try {
      const parsed = redisResultSchema.safeParse(typeof raw === 'string' ? JSON.parse(raw) : raw);
      if (!parsed.success) {
        record.error = 'The worker returned a malformed result.';
        this.jobs.finish(record, 'failed');
        return;
      }
      const result = parsed.data;
      try {
        record.outputs = await this.book.files.writeOutputs(
          jobId,
          result.images.map((b) => Buffer.from(b, 'base64')),
        );
      } catch (err) {
        if (!(this.book.storageFailure('job images', err, jobId) instanceof StorageFullError)) throw err;
        record.error = STORAGE_FULL_MESSAGE;
        this.jobs.finish(record, 'failed');
        return;
      }
      record.seeds = result.seeds;
      record.nsfw = result.nsfw;
      record.timings = result.timings;
      record.device = result.device;
      if (record.startedAt) this.book.metrics.runSeconds.observe({ device: result.device, kind: record.kind }, (Date.now() - record.startedAt) / 1000);
      this.book.tryWrite('step statistics', () => learnSpeed(record, result.device, this.book.stats, this.book.estimator));
      this.jobs.finish(record, 'done');
    } finally {
      this.jobs.settling.delete(jobId);
    }
  }

  async onFailed(jobId: string, reason: string): Promise<void> {
    const record = this.jobs.tracked.get(jobId);
    if (!record || this.jobs.settling.has(jobId)) return;
    if (reason === CANCELLED_REASON) {
      this.jobs.finish(record, 'cancelled');
      return;
    }
    record.error = reason || 'The job failed.';
    this.jobs.finish(record, 'failed');
  }

  /** Back to waiting: a retry after a worker death, or a shutdown of its worker host. */
  onWaiting(jobId: string): void {
    const record = this.jobs.tracked.get(jobId);
    this.hooks.changed();
    if (record?.state !== 'running') return;
    record.state = 'queued';
    delete record.startedAt;
    this.book.save(record);
    jobLogger(jobId).info('job back in the queue');
  }

  onRemoved(jobId: string): void {
    this.hooks.changed();
    const record = this.jobs.tracked.get(jobId);
    // Removed from Redis while unfinished: cancelled by another bot process.
    if (record && !this.jobs.settling.has(jobId)) this.jobs.finish(record, 'cancelled', false);
  }
}

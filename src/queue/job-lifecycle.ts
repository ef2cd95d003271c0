// The steps of a job's life that every backend (local workers, Redis, the in-process Imagen
// runner) takes the same way: the new record, learning speed from a finished run, telling
// listeners about position changes and outcomes.
import type { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { InputError } from '../diffusion/errors.js';
import { jobLogger } from '../log.js';
import type { QueueMetrics } from '../metrics/queue-metrics.js';
import type { StepStatsStore } from '../store/step-stats.js';
import { jobUnits, type Estimator } from './estimates.js';
import { describeIssues, jobRequestSchema } from './ipc.js';
import type { JobRecord, JobSpec, QueueEvents, QueuePosition } from './types.js';

/** How a backend tells its listeners (an EventEmitter's emit, or a forwarding function). */
export type EmitQueueEvent = <E extends keyof QueueEvents>(event: E, ...args: Parameters<QueueEvents[E]>) => unknown;

/** The queue's boundary check of a new job: an input image where the kind needs one, and the engine's request rules. */
export function checkSpec(spec: JobSpec): void {
  if ((spec.kind === 'img2img' || spec.kind === 'upscale') && !spec.initImage) {
    throw new InputError(`A ${spec.kind} job needs an input image.`);
  }
  if (spec.maskImage && spec.kind !== 'img2img') throw new InputError('An inpainting mask needs an image to paint into.');
  const parsed = jobRequestSchema.safeParse(spec.request);
  if (!parsed.success) throw new InputError(describeIssues(parsed.error));
}

/** A freshly queued record for `spec` (its input image is stored separately). */
export function newJobRecord(spec: Omit<JobSpec, 'initImage' | 'maskImage'>, model = spec.model): JobRecord {
  return { ...spec, model, id: randomUUID(), state: 'queued', createdAt: Date.now(), attempts: 0, outputs: [], seeds: [], nsfw: [] };
}

/** Feeds a finished run's timings into the step statistics and the live estimator. */
export function learnSpeed(record: JobRecord, device: string, stats: StepStatsStore, estimator: Estimator): void {
  const t = record.timings;
  if (!t || record.kind === 'upscale') return;
  const area = ((record.request.width ?? 512) * (record.request.height ?? 512)) / (512 * 512);
  const msPerUnit = t.stepMs / Math.max(1e-9, area * Math.max(1, record.request.count ?? 1));
  const overheadMs = Math.max(0, t.totalMs - msPerUnit * jobUnits(record));
  estimator.update(record.model, device, stats.record(record.model, device, msPerUnit, overheadMs));
}

/**
 * Emits 'position' for jobs whose place changed or whose ETA moved by a second or more, and
 * sets the per-device queue length (running + expected waiting) and waiting-jobs gauges.
 */
export function publishPositions(
  projected: Iterable<{ pos: QueuePosition; device: string | undefined }>,
  o: {
    running: { device: string; busy: boolean }[];
    waiting: number;
    lastPublished: Map<string, QueuePosition>;
    events: EventEmitter;
    metrics: QueueMetrics;
    /** Jobs this process must not announce (another bot's, or not yet announced as queued). */
    skip?: (jobId: string) => boolean;
  },
): void {
  const perDevice = new Map<string, number>(o.running.map((d) => [d.device, d.busy ? 1 : 0]));
  for (const { pos, device } of projected) {
    if (device) perDevice.set(device, (perDevice.get(device) ?? 0) + 1);
    if (o.skip?.(pos.jobId)) continue;
    const prev = o.lastPublished.get(pos.jobId);
    if (prev && prev.position === pos.position && Math.abs(prev.etaMs - pos.etaMs) < 1000) continue;
    o.lastPublished.set(pos.jobId, pos);
    o.events.emit('position', pos);
  }
  for (const [device, n] of perDevice) o.metrics.queueLength.set({ device }, n);
  o.metrics.waitingJobs.set(o.waiting);
}

/** Logs a finished job's outcome with its id and emits 'done', 'failed' or 'cancelled'. */
export function announceOutcome(emit: EmitQueueEvent, record: JobRecord, state: 'done' | 'failed' | 'cancelled'): void {
  const log = jobLogger(record.id, { device: record.device, provider: record.provider ?? 'local' });
  if (state === 'done') {
    log.info({ timings: record.timings }, 'job done');
    emit('done', record);
  } else if (state === 'failed') {
    log.warn({ error: record.error }, 'job failed');
    emit('failed', record, record.error ?? 'The job failed.');
  } else {
    log.info('job cancelled');
    emit('cancelled', record);
  }
}

// Queue positions and start-time estimates. A job's run time comes from measured speed per
// (model, device); the waiting line is then played forward over the devices in dispatch order.
import type { StepStat } from '../store/step-stats.js';
import { statKey } from '../store/step-stats.js';
import type { JobRecord, QueuePosition } from './types.js';

/** Guesses before anything was measured on a device kind: ms per step of one 512×512 image. */
const DEFAULT_MS_PER_UNIT: Record<string, number> = { cpu: 4000, cuda: 120 };
const DEFAULT_OVERHEAD_MS: Record<string, number> = { cpu: 3000, cuda: 800 };

/** Work in a job, in "one step of one 512×512 image" units. */
export function jobUnits(job: Pick<JobRecord, 'kind' | 'request'>): number {
  if (job.kind === 'upscale') return 0;
  const r = job.request;
  const area = ((r.width ?? 512) * (r.height ?? 512)) / (512 * 512);
  const steps = job.kind === 'img2img' ? Math.ceil((r.steps ?? 20) * (r.strength ?? 0.8)) : (r.steps ?? 20);
  return steps * area * Math.max(1, r.count ?? 1);
}

export class Estimator {
  constructor(
    private readonly stats: Map<string, StepStat>,
    private readonly noopStepMs: number,
  ) {}

  update(model: string, device: string, stat: StepStat): void {
    this.stats.set(statKey(model, device), stat);
  }

  /** Expected run time of `job` on `device`. */
  runMs(job: Pick<JobRecord, 'kind' | 'request' | 'model'>, device: string): number {
    if (job.kind === 'upscale') return 1000;
    const measured = this.stats.get(statKey(job.model, device));
    if (measured) return measured.overheadMs + measured.msPerUnit * jobUnits(job);
    // Device names are `cuda:0`, or `<host>/cuda:0` for Redis worker hosts.
    const kind = (device.split('/').pop() ?? device).split(':')[0];
    if (kind === 'noop') {
      const r = job.request;
      return (r.steps ?? 20) * this.noopStepMs + 5;
    }
    return (DEFAULT_OVERHEAD_MS[kind] ?? 3000) + (DEFAULT_MS_PER_UNIT[kind] ?? 4000) * jobUnits(job);
  }
}

export interface DeviceLoad {
  device: string;
  /** ms until the device is free (0 when idle; alive workers only). */
  busyForMs: number;
}

/**
 * Plays the waiting jobs (in start order) onto the devices: each goes to whichever device
 * frees up first. Returns each job's position and ETA, and which device it is expected on.
 */
export function projectPositions(
  waiting: Pick<JobRecord, 'id' | 'kind' | 'request' | 'model'>[],
  devices: DeviceLoad[],
  estimator: Estimator,
): { pos: QueuePosition; device: string | undefined }[] {
  const free = devices.map((d) => ({ device: d.device, at: Math.max(0, d.busyForMs) }));
  return waiting.map((job, i) => {
    if (free.length === 0) return { pos: { jobId: job.id, position: i + 1, etaMs: 0 }, device: undefined };
    let best = free[0];
    for (const f of free) if (f.at < best.at) best = f;
    const etaMs = Math.round(best.at);
    best.at += estimator.runMs(job, best.device);
    return { pos: { jobId: job.id, position: i + 1, etaMs }, device: best.device };
  });
}

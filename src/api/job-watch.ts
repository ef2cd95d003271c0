// Queue events routed by job id, for the API's waiting calls and SSE streams: one listener per
// event on the queue however many clients wait, and the latest progress of each API job (for
// GET /jobs/{id} and A1111's /sdapi/v1/progress).
import type { PreviewImage } from '../diffusion/types.js';
import { isApiJob } from '../jobs/api-requester.js';
import type { JobRecord, QueueEvents, QueuePosition } from '../queue/types.js';

export type WatchEvent =
  | { type: 'queued' | 'position'; position: QueuePosition }
  | { type: 'started'; job: JobRecord }
  | { type: 'progress'; job: JobRecord; step: number; totalSteps: number; preview?: PreviewImage }
  | { type: 'done' | 'cancelled'; job: JobRecord }
  | { type: 'failed'; job: JobRecord; message: string };

export interface Progress {
  step: number;
  totalSteps: number;
  startedAt?: number;
  preview?: PreviewImage;
}

type Listener = (e: WatchEvent) => void;

const FINAL = new Set(['done', 'failed', 'cancelled']);

export class JobWatch {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly progressOf = new Map<string, Progress>();
  private readonly handlers: { [E in keyof QueueEvents]: QueueEvents[E] };

  constructor(
    private readonly queue: {
      on<E extends keyof QueueEvents>(e: E, h: QueueEvents[E]): void;
      off<E extends keyof QueueEvents>(e: E, h: QueueEvents[E]): void;
      get(id: string): JobRecord | undefined;
    },
  ) {
    this.handlers = {
      queued: (job, position) => this.emit(job.id, { type: 'queued', position }),
      position: (position) => this.emit(position.jobId, { type: 'position', position }),
      started: (job) => {
        if (isApiJob(job)) this.progressOf.set(job.id, { step: 0, totalSteps: job.request.steps, startedAt: job.startedAt ?? Date.now() });
        this.emit(job.id, { type: 'started', job });
      },
      progress: (job, p) => {
        if (isApiJob(job)) this.progressOf.set(job.id, { ...p, startedAt: this.progressOf.get(job.id)?.startedAt ?? job.startedAt ?? Date.now() });
        this.emit(job.id, { type: 'progress', job, ...p });
      },
      done: (job) => this.emit(job.id, { type: 'done', job }),
      failed: (job, message) => this.emit(job.id, { type: 'failed', job, message }),
      cancelled: (job) => this.emit(job.id, { type: 'cancelled', job }),
    };
    for (const [event, handler] of Object.entries(this.handlers)) queue.on(event as keyof QueueEvents, handler as never);
  }

  /** Starts keeping progress for a job just submitted. */
  track(jobId: string): void {
    if (!this.progressOf.has(jobId)) this.progressOf.set(jobId, { step: 0, totalSteps: 0 });
  }

  progress(jobId: string): Progress | undefined {
    return this.progressOf.get(jobId);
  }

  /** Calls `listener` with every event of the job until the returned function is called. */
  subscribe(jobId: string, listener: Listener): () => void {
    const set = this.listeners.get(jobId) ?? new Set<Listener>();
    this.listeners.set(jobId, set);
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(jobId) === set) this.listeners.delete(jobId);
    };
  }

  /** The finished record, or undefined when `timeoutMs` passed first. */
  finished(jobId: string, timeoutMs: number): Promise<JobRecord | undefined> {
    return new Promise((resolve) => {
      const now = this.queue.get(jobId);
      if (now && FINAL.has(now.state)) return resolve(now);
      const timer = setTimeout(() => {
        stop();
        resolve(undefined);
      }, timeoutMs);
      const stop = this.subscribe(jobId, (e) => {
        if (!FINAL.has(e.type)) return;
        clearTimeout(timer);
        stop();
        resolve(this.queue.get(jobId) ?? ('job' in e ? e.job : undefined));
      });
    });
  }

  close(): void {
    for (const [event, handler] of Object.entries(this.handlers)) this.queue.off(event as keyof QueueEvents, handler as never);
    this.listeners.clear();
  }

  private emit(jobId: string, e: WatchEvent): void {
    if (FINAL.has(e.type)) this.progressOf.delete(jobId);
    const set = this.listeners.get(jobId);
    if (set) for (const l of [...set]) l(e);
  }
}

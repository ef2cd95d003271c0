// The job queue's public contract, shared by the bot (producer) and the device workers.
import type { PreviewImage } from '../diffusion/types.js';
import type { JobRecord, JobSpec } from '../jobs/types.js';

// The job itself lives in src/jobs/ (the store depends on it too); the contract keeps its names.
export type { InteractionRef, JobKind, JobProvider, JobRecord, JobSpec, JobState, Requester } from '../jobs/types.js';

export interface QueuePosition {
  jobId: string;
  /** 1-based place among waiting jobs (0 when running). */
  position: number;
  /** Estimated ms until the job starts. */
  etaMs: number;
  /** The device running it, or (waiting) the one the estimate expects to run it. */
  device?: string;
}

/** A job not yet submitted, as localCapacity() sees it. */
export type CapacityProbe = Pick<JobSpec, 'kind' | 'model' | 'request' | 'requester'>;

export interface LocalCapacity {
  /** Local devices that could run the job (0: none, e.g. DEVICES=none or no live worker host). */
  devices: number;
  /** Estimated wait before one of them would start it. */
  etaMs: number;
}

export type QueueLimitKind = 'user_cap' | 'global_cap';

/** Thrown by submit() when a cap is reached; `message` is written for the user. */
export class QueueLimitError extends Error {
  override readonly name = 'QueueLimitError';
  constructor(
    readonly kind: QueueLimitKind,
    message: string,
  ) {
    super(message);
  }
}

export interface QueueEvents {
  queued: (job: JobRecord, pos: QueuePosition) => void;
  position: (pos: QueuePosition) => void;
  started: (job: JobRecord) => void;
  progress: (job: JobRecord, p: { step: number; totalSteps: number; preview?: PreviewImage }) => void;
  done: (job: JobRecord) => void;
  failed: (job: JobRecord, message: string) => void;
  cancelled: (job: JobRecord) => void;
}

export type CancelResult = 'cancelled' | 'not_found' | 'already_finished' | 'forbidden';

export interface JobQueue {
  submit(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }>;
  cancel(jobId: string, by: { userId: string; isAdmin?: boolean }): Promise<CancelResult>;
  get(jobId: string): JobRecord | undefined;
  /** The PNG bytes of a finished job's images. */
  outputs(jobId: string): Promise<Buffer[]>;
  /** The stored input image of a job, if it had one. */
  input(jobId: string): Promise<Buffer | undefined>;
  /** Waiting and running jobs with positions and estimates. */
  positions(): QueuePosition[];
  /** What the local devices offer a job like this right now (the provider policy asks before routing). */
  localCapacity?(job: CapacityProbe): LocalCapacity;
  /** Record where the job's message lives (for posting results after restarts). */
  setMessage(jobId: string, messageId: string): void;
  on<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void;
  off<E extends keyof QueueEvents>(event: E, handler: QueueEvents[E]): void;
  /** Stops taking work, checkpoints running jobs as interrupted, closes the store. */
  close(): Promise<void>;
}

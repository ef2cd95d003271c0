// The job queue's public contract, shared by the bot (producer) and the device workers.
import type { GenerationRequest, PreviewImage } from '../diffusion/types.js';

export type JobKind = 'txt2img' | 'img2img' | 'upscale';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
/** What draws a job: a local device worker, or Google's Imagen API. */
export type JobProvider = 'local' | 'imagen';

/** Who asked, and where the answer goes on Discord. */
export interface Requester {
  userId: string;
  username: string;
  guildId: string | null;
  channelId: string;
}

/** The Discord interaction that started the job: its token is good for 15 minutes only. */
export interface InteractionRef {
  applicationId: string;
  token: string;
  /** Epoch ms when Discord created the interaction (its token dies 15 min later). */
  createdAt: number;
}

/** What a producer submits. Input images travel as bytes and are stored under DATA_DIR/inputs. */
export interface JobSpec {
  kind: JobKind;
  /** Model folder name under MODELS_DIR (ignored for upscale). */
  model: string;
  /** Generation parameters, without image bytes (see `initImage`). */
  request: Omit<GenerationRequest, 'initImage'>;
  /** Image-to-image input or the image to upscale (PNG/JPEG/WebP bytes). */
  initImage?: Uint8Array;
  /** Upscale factor for kind 'upscale'. */
  upscaleFactor?: 2 | 4;
  requester: Requester;
  interaction?: InteractionRef;
  /** The button's source: the job whose image was clicked, and which image (0-based). */
  parent?: { jobId: string; imageIndex: number };
  /** The channel message showing this job's progress/result, once the bot knows it. */
  messageId?: string;
  /** Who draws it ('local' when absent). */
  provider?: JobProvider;
}

export interface JobRecord extends Omit<JobSpec, 'initImage'> {
  id: string;
  state: JobState;
  /** Path of the stored input image, if any. */
  initImagePath?: string;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  device?: string;
  attempts: number;
  /** Why the job failed; on an Imagen job re-run after its local run failed, that local failure. */
  error?: string;
  /** Stored output images (PNG paths), in order. */
  outputs: string[];
  /** Seeds of the outputs, in order. */
  seeds: number[];
  /** Safety-checker flags of the outputs, in order ([] when no checker ran). */
  nsfw: boolean[];
  timings?: { totalMs: number; stepMs: number };
  /** True once the retention sweep deleted the output files (the row stays). */
  outputsExpired?: boolean;
}

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

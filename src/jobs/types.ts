// What a job is, as both the store (its rows) and the queues (their work) know it. The
// queue's public contract (src/queue/types.ts) re-exports these.
import type { GenerationRequest } from '../diffusion/types.js';

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

/**
 * Where a derived job comes from (its lineage): the job and image it was made from, and, for the
 * editing tools after U, which one made it (the bot's action name, e.g. `zoom_out_2`).
 */
export interface JobLineage {
  jobId: string;
  imageIndex: number;
  action?: string;
}

/** A job started from a Discord message's image (Edit image…, Vary this image): which one, for ℹ️. */
export interface MessageSource {
  /** The bot's action name: `edit_image` or `vary_message`. */
  action: string;
  channelId: string;
  messageId: string;
  /** Who posted the message (the bot or a person). */
  authorId: string;
  /** Edit image…: the region preset used, when no mask was uploaded. */
  region?: string;
}

/** What a producer submits. Input images travel as bytes and are stored under DATA_DIR/inputs. */
export interface JobSpec {
  kind: JobKind;
  /** Model folder name under MODELS_DIR (ignored for upscale). */
  model: string;
  /** Generation parameters, without image bytes (see `initImage`, `controlImage`). */
  request: Omit<GenerationRequest, 'initImage' | 'controlImage'>;
  /** Image-to-image input or the image to upscale (PNG/JPEG/WebP bytes). */
  initImage?: Uint8Array;
  /** Inpainting mask for img2img (white repaints, black keeps; any size), stored beside the input. */
  maskImage?: Uint8Array;
  /** Upscale factor for kind 'upscale'. */
  upscaleFactor?: 2 | 4;
  /** ControlNet: the control image (request.controlnet says how it is read), stored under DATA_DIR/inputs too. */
  controlImage?: Uint8Array;
  requester: Requester;
  interaction?: InteractionRef;
  /** The button's source: the job whose image was clicked, and which image (0-based). */
  parent?: JobLineage;
  /** The Discord message whose image started it (context-menu commands). */
  source?: MessageSource;
  /** The channel message showing this job's progress/result, once the bot knows it. */
  messageId?: string;
  /** Who draws it ('local' when absent). */
  provider?: JobProvider;
  /** The result is for the requester alone: an ephemeral interaction response (/prefs stealth). */
  stealth?: boolean;
}

export interface JobRecord extends Omit<JobSpec, 'initImage' | 'maskImage' | 'controlImage'> {
  id: string;
  state: JobState;
  /** Path of the stored input image, if any. */
  initImagePath?: string;
  /** Path of the stored inpainting mask, if any. */
  maskImagePath?: string;
  /** Path of the stored ControlNet control image, if any. */
  controlImagePath?: string;
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

// Provider-neutral vocabulary: whatever drew the picture (the local ONNX engine or a cloud
// service), the bot gets the same shape back, so its reply, grid and buttons don't care.
import type { GenerateOptions, GenerationRequest, GenerationResult, SchedulerName } from '../diffusion/types.js';

export type { GenerateOptions, GenerationRequest } from '../diffusion/types.js';

/** 'imagen' is the cloud provider (Google's Gemini image models; the id is kept from the Imagen days, as stored jobs carry it). */
export type ProviderId = 'local' | 'imagen';

/** Seed reported for an image whose seed the provider chose itself (A1111 writes -1 for "random"). */
export const UNKNOWN_SEED = -1;

export interface ProviderResult extends Omit<GenerationResult, 'scheduler'> {
  provider: ProviderId;
  /** Model id as the provider knows it (model folder name locally, e.g. gemini-3.1-flash-image in the cloud). */
  model: string;
  /** Scheduler used; absent when the provider has none (Imagen). */
  scheduler?: SchedulerName;
  /** What was changed or left out on the way, for the embed: 'aspect ratio 4:3 used for 640x512', … */
  notes: string[];
  /** Requested images the provider withheld; `index` counts requested images from 0. */
  filtered: { index: number; reason: string }[];
  /** What a per-token service billed for the request (absent for the local engine). */
  usage?: ProviderUsage;
}

/** Tokens a per-token service (Gemini) reported in usageMetadata, summed over a job's calls. */
export interface ProviderUsage {
  /** generateContent calls answered (one image each). */
  calls: number;
  promptTokens: number;
  /** candidatesTokenCount: the image (and any text) the model returned. */
  outputTokens: number;
  thoughtsTokens: number;
  totalTokens: number;
}

export interface ImageProvider {
  readonly id: ProviderId;
  /** For embeds and logs, e.g. "Gemini 3.1 Flash Image (gemini-3.1-flash-image)". */
  readonly label: string;
  /** Why this provider cannot serve the request at all (e.g. image-to-image on the legacy Imagen path), or undefined. */
  unsupported?(req: GenerationRequest): string | undefined;
  generate(req: GenerationRequest, opts?: GenerateOptions): Promise<ProviderResult>;
}

export type ProviderErrorKind = 'auth' | 'quota' | 'server' | 'timeout' | 'malformed' | 'filtered' | 'config';

export interface ProviderErrorInit {
  kind: ProviderErrorKind;
  retryable: boolean;
  /** Safe to show in Discord as is: says what happened and, where there is one, what to do. */
  userMessage: string;
  /** Technical detail for logs (status, Google's own message). Defaults to userMessage. */
  message?: string;
  /** How long the service asked us to wait before trying again, when it said. */
  retryAfterMs?: number;
  /** Tokens billed before the failure (a refusal still costs its prompt). */
  usage?: ProviderUsage;
  cause?: unknown;
}

/** A provider failure sorted into the few cases a caller acts on differently (fall back, back off, tell the owner). */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly kind: ProviderErrorKind;
  readonly retryable: boolean;
  readonly userMessage: string;
  readonly retryAfterMs?: number;
  readonly usage?: ProviderUsage;

  constructor(init: ProviderErrorInit) {
    super(init.message ?? init.userMessage, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.userMessage = init.userMessage;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.usage !== undefined) this.usage = init.usage;
  }
}

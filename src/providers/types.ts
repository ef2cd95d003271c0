// Provider-neutral vocabulary: whatever drew the picture (the local ONNX engine or a cloud
// service), the bot gets the same shape back, so its reply, grid and buttons don't care.
import type { GenerateOptions, GenerationRequest, GenerationResult, SchedulerName } from '../diffusion/types.js';

export type { GenerateOptions, GenerationRequest } from '../diffusion/types.js';

export type ProviderId = 'local' | 'imagen';

/** Seed reported for an image whose seed the provider chose itself (A1111 writes -1 for "random"). */
export const UNKNOWN_SEED = -1;

export interface ProviderResult extends Omit<GenerationResult, 'scheduler'> {
  provider: ProviderId;
  /** Model id as the provider knows it (model folder name locally, e.g. imagen-4.0-fast-generate-001 for Imagen). */
  model: string;
  /** Scheduler used; absent when the provider has none (Imagen). */
  scheduler?: SchedulerName;
  /** What was changed or left out on the way, for the embed: 'aspect ratio 4:3 used for 640x512', … */
  notes: string[];
  /** Requested images the provider withheld; `index` counts requested images from 0. */
  filtered: { index: number; reason: string }[];
}

export interface ImageProvider {
  readonly id: ProviderId;
  /** For embeds and logs, e.g. "Imagen 4 Fast (imagen-4.0-fast-generate-001)". */
  readonly label: string;
  /** Why this provider cannot serve the request at all (e.g. image-to-image on Imagen), or undefined. */
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
  cause?: unknown;
}

/** A provider failure sorted into the few cases a caller acts on differently (fall back, back off, tell the owner). */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly kind: ProviderErrorKind;
  readonly retryable: boolean;
  readonly userMessage: string;
  readonly retryAfterMs?: number;

  constructor(init: ProviderErrorInit) {
    super(init.message ?? init.userMessage, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.retryable = init.retryable;
    this.userMessage = init.userMessage;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
}

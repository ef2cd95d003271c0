// Shared vocabulary of the diffusion engine: what a caller asks for and what it gets back.
// Names follow diffusers' pipeline parameters (num_inference_steps → steps, guidance_scale, …).

export const SCHEDULER_NAMES = ['pndm', 'ddim', 'euler', 'euler_a', 'dpmpp_2m', 'lcm'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** One text-to-image (later image-to-image / inpainting) request, as the queue stores it. */
export interface GenerationRequest {
  prompt: string;
  negativePrompt?: string;
  /** Seed of the first image; image i uses seed + i, as diffusers users expect. */
  seed: number;
  steps: number;
  guidanceScale: number;
  width: number;
  height: number;
  /** Images per job (1–4). */
  count: number;
  /** Scheduler override; the model's own scheduler_config.json decides when absent. */
  scheduler?: SchedulerName;
  /** Image-to-image: the encoded input image (PNG, JPEG or WebP bytes). */
  initImage?: Uint8Array;
  /** Image-to-image strength in [0, 1] (diffusers' `strength`); 0 returns the input, 1 ignores it. */
  strength?: number;
}

export interface PreviewImage {
  width: number;
  height: number;
  /** Packed RGB, 3 bytes per pixel. */
  rgb: Uint8Array;
}

export interface GenerationProgress {
  /** 1-based step just finished. */
  step: number;
  totalSteps: number;
  /** Cheap latent→RGB projection of the first image (no VAE call). */
  preview?: PreviewImage;
}

export interface GeneratedImage {
  /** PNG bytes with the generation parameters in a `parameters` tEXt chunk. */
  png: Buffer;
  seed: number;
  width: number;
  height: number;
}

export interface GenerationTimings {
  totalMs: number;
  /** Time spent inside session.run, per model part. */
  textEncoderMs: number;
  unetMs: number;
  vaeMs: number;
  /** Mean UNet step time. */
  stepMs: number;
}

export interface GenerationResult {
  images: GeneratedImage[];
  /** Prompt tokens cut off by the text encoder's window (0 when it fitted). */
  truncatedTokens: number;
  scheduler: SchedulerName;
  timings: GenerationTimings;
}

export interface GenerateOptions {
  onProgress?: (p: GenerationProgress) => void;
  /** Checked between steps; an aborted job throws an AbortError. */
  signal?: AbortSignal;
}

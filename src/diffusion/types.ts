// Shared vocabulary of the diffusion engine: what a caller asks for and what it gets back.
// Names follow diffusers' pipeline parameters (num_inference_steps → steps, guidance_scale, …).

// The full set users can pick. The `_karras` names force `use_karras_sigmas` on that class.
export const SCHEDULER_NAMES = [
  'pndm',
  'ddim',
  'ddpm',
  'euler',
  'euler_karras',
  'euler_a',
  'heun',
  'lms',
  'dpmpp_2m',
  'dpmpp_2m_karras',
  'dpmpp_sde',
  'unipc',
  'lcm',
  'flow_match_euler',
] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];
/** A1111's `inpainting_fill` values 0–3 by name, in its order. */
export const INPAINTING_FILLS = ['fill', 'original', 'latent_noise', 'latent_nothing'] as const;
export type InpaintingFill = (typeof INPAINTING_FILLS)[number];
/** The schedulers of diffusion models (SD 1.x, SDXL): all but SD3's flow_match_euler. */
export const DIFFUSION_SCHEDULER_NAMES = SCHEDULER_NAMES.filter((n) => n !== 'flow_match_euler');

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
  /** Inpainting mask (any image; white = repaint, black = keep). Needs `initImage`. */
  mask?: Uint8Array;
  /** Gaussian blur radius in pixels applied to the mask edge before thresholding to the latent grid (0 = none). */
  maskBlur?: number;
  /** Swap the mask's meaning (white keeps, black repaints), as A1111's `inpainting_mask_invert`. */
  maskInvert?: boolean;
  /** 'masked' inpaints only the padded crop around the mask, scaled to width × height (A1111's "Only masked"); default 'whole'. */
  inpaintArea?: 'whole' | 'masked';
  /** inpaintArea 'masked': pixels added around the mask's box before the crop (0–256, default 32). */
  inpaintPadding?: number;
  /**
   * What the masked region starts from, as A1111's `inpainting_fill` (inpaint-fill.ts):
   * `original` (default) the input itself; `fill` the input with the hole filled by its
   * surroundings' colours; `latent_noise` random latents; `latent_nothing` zero latents.
   */
  inpaintingFill?: InpaintingFill;
  /**
   * An edit of `initImage` instead of a plain generation (run by `runImageEdit`, image-edit.ts):
   * outpainting (zoom out, pan) onto a width × height canvas, or a creative upscale (hires fix).
   */
  edit?: ImageEdit;
  /**
   * LoRAs by name in $MODELS_DIR/loras, with weights; `<lora:name:w>` tags in the prompt add to
   * these. The caller loads the pipeline with them (loadPipeline's `loras`, lora/choices.ts).
   */
  loras?: { name: string; weight: number; hash?: string }[];
  // --- ControlNet (controlnet.ts) ---
  /** A ControlNet steering every step; its control image travels in `controlImage`. */
  controlnet?: ControlNetRequest;
  /** The ControlNet's input (PNG, JPEG or WebP bytes): a photo for `canny`, a ready map for `none`. */
  controlImage?: Uint8Array;
}

// --- ControlNet ---
export const CONTROL_PREPROCESSORS = ['canny', 'none'] as const;
export type ControlPreprocessor = (typeof CONTROL_PREPROCESSORS)[number];

/** diffusers' StableDiffusionControlNetPipeline parameters, by their names there. */
export interface ControlNetRequest {
  /** A folder under $MODELS_DIR/controlnets, or a path to a ControlNet folder. */
  model: string;
  /** What turns the control image into the map (default canny). */
  preprocessor?: ControlPreprocessor;
  /** controlnet_conditioning_scale: the residuals' weight (default 1; 0 = no effect). */
  scale?: number;
  /** control_guidance_start / _end: the fraction of the steps it acts on (default 0 … 1). */
  guidanceStart?: number;
  guidanceEnd?: number;
  /** Canny's hysteresis thresholds (default 100 / 200, as the ControlNet annotator). */
  cannyLow?: number;
  cannyHigh?: number;
}

export const PAN_DIRECTIONS = ['left', 'right', 'up', 'down'] as const;
export type PanDirection = (typeof PAN_DIRECTIONS)[number];

/** Zoom out by `factor` (1–2), pan one side by half, or redraw at `scale`× (hires fix). */
export type ImageEdit = { kind: 'zoom'; factor: number } | { kind: 'pan'; direction: PanDirection } | { kind: 'hires'; scale: number };

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
  /**
   * Cheap latent→RGB projection of the first image (no VAE call), computed when first read:
   * a listener that does not send it does not pay for it.
   */
  preview?: PreviewImage;
}

export interface GeneratedImage {
  /** PNG bytes with the generation parameters in a `parameters` tEXt chunk. */
  png: Buffer;
  seed: number;
  width: number;
  height: number;
  /** Set when the model folder has a safety checker: true when it flagged this image. */
  nsfw?: boolean;
}

/** An image as generateRaw() hands it back: pixels, not yet encoded. */
export interface RawImage {
  /** Packed RGB, 3 bytes per pixel. */
  rgb: Uint8Array;
  /** The A1111 `parameters` text the PNG will carry. */
  parameters: string;
  seed: number;
  width: number;
  height: number;
  nsfw?: boolean;
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

export interface RawGenerationResult extends Omit<GenerationResult, 'images'> {
  images: RawImage[];
}

export interface GenerateOptions {
  onProgress?: (p: GenerationProgress) => void;
  /** Checked between steps; an aborted job throws an AbortError. */
  signal?: AbortSignal;
}

// Image-to-image as diffusers' StableDiffusionImg2ImgPipeline does it: encode the input, keep the
// last int(steps × strength) timesteps, noise the latents to the first of them, denoise from there.
//
// Generator draws, per image (each image has its own generator, as diffusers with a list of
// generators): first the VAE's latent sample (latent_parameters exports only; latent_sample
// exports sampled inside the graph), then the noise, then whatever the scheduler draws per step.
//
// Strength 1 keeps every timestep but, as in diffusers, still starts from the input noised to the
// first timestep, not from pure noise: a trace of the input survives. (Inpainting starts from pure
// noise at strength 1; see inpaint.ts.) Strength 0 leaves nothing to denoise: the prepared input
// is the answer.
import type { TorchGenerator } from './rng.js';
import type { Scheduler } from './schedulers/index.js';

/** diffusers' img2img default `strength` (its pipeline says 0.8; this project has always used 0.75). */
export const DEFAULT_IMG2IMG_STRENGTH = 0.75;
/** diffusers' inpainting default: repaint the masked region from pure noise. */
export const DEFAULT_INPAINT_STRENGTH = 1;

/** What one vae_encoder call returned, before any sampling: [C, lh, lw] latents or [2C, lh, lw] mean ‖ logvar (C = 4, SD3: 16). */
export interface EncodedImage {
  output: 'latent_sample' | 'latent_parameters';
  data: Float32Array;
}

export function defaultStrength(req: { initImage?: Uint8Array; mask?: Uint8Array; strength?: number }): number | undefined {
  if (!req.initImage) return undefined;
  return req.strength ?? (req.mask ? DEFAULT_INPAINT_STRENGTH : DEFAULT_IMG2IMG_STRENGTH);
}

export interface StrengthTail {
  /** The timesteps still to run: the tail of the scheduler's. */
  timesteps: number[];
  /** Where the tail starts in the scheduler's timesteps (diffusers' t_start × order). */
  beginIndex: number;
}

/** diffusers' init_timestep: how many of the `steps` the strength keeps (0 = nothing to denoise). */
export function initTimestep(steps: number, strength: number): number {
  return Math.min(Math.floor(steps * strength), steps);
}

/**
 * How a pipeline rounds the strength: SD's get_timesteps floors init_timestep = int(steps ×
 * strength); StableDiffusion3Img2ImgPipeline keeps it fractional and floors t_start =
 * int(steps − steps × strength), so 10 steps at 0.75 run 8 there, 7 here.
 */
export type StrengthRounding = 'sd' | 'sd3';

/** diffusers' get_timesteps: the tail of the timesteps from t_start = steps − init_timestep. */
export function strengthTail(timesteps: readonly number[], steps: number, strength: number, order = 1, rounding: StrengthRounding = 'sd'): StrengthTail {
  const tStart = rounding === 'sd3' ? Math.trunc(Math.max(steps - Math.min(steps * strength, steps), 0)) : Math.max(steps - initTimestep(steps, strength), 0);
  const beginIndex = tStart * order;
  return { timesteps: timesteps.slice(beginIndex), beginIndex };
}

/** Cuts each scheduler to the tail and tells it where it starts (set_begin_index, on schedulers that count steps). */
export function startSchedulersAt(schedulers: readonly Scheduler[], steps: number, strength: number, rounding: StrengthRounding = 'sd'): number[] {
  const tail = strengthTail(schedulers[0].timesteps, steps, strength, schedulers[0].order, rounding);
  for (const s of schedulers) s.setBeginIndex?.(tail.beginIndex);
  return tail.timesteps;
}

/**
 * diffusers' (retrieve_latents(sample_mode="sample") − shift_factor) × scaling_factor for one
 * image: the encoder's latents, or mean + exp(logvar / 2) × ε with ε drawn from this image's
 * generator. The shift is SD3's (0 for SD).
 */
export function latentsFromEncoding(enc: EncodedImage, size: number, generator: TorchGenerator, scalingFactor: number, shiftFactor = 0): Float32Array {
  const z = new Float32Array(size);
  const { data } = enc;
  if (enc.output === 'latent_parameters') {
    const eps = generator.randn(size);
    for (let i = 0; i < size; i++) {
      // DiagonalGaussianDistribution clamps the log-variance to [-30, 20].
      const logvar = Math.min(Math.max(data[size + i], -30), 20);
      z[i] = (data[i] + Math.exp(0.5 * logvar) * eps[i] - shiftFactor) * scalingFactor;
    }
  } else {
    for (let i = 0; i < size; i++) z[i] = (data[i] - shiftFactor) * scalingFactor;
  }
  return z;
}

/** Advances the generator as latentsFromEncoding would, for an encoding diffusers makes and this engine skips. */
export function skipEncodingDraws(output: EncodedImage['output'], size: number, generator: TorchGenerator): void {
  if (output === 'latent_parameters') generator.randn(size);
}

/** Start latents of image-to-image: each image's encoding, noised with its generator to the tail's first timestep. */
export function img2imgStartLatents(
  enc: EncodedImage,
  size: number,
  generators: readonly TorchGenerator[],
  schedulers: readonly Scheduler[],
  firstTimestep: number,
  scalingFactor: number,
  shiftFactor = 0,
): Float32Array[] {
  return generators.map((g, i) => {
    const x0 = latentsFromEncoding(enc, size, g, scalingFactor, shiftFactor);
    const noise = g.randn(size);
    return schedulers[i].addNoise(x0, noise, firstTimestep);
  });
}

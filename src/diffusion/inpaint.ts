// Inpainting as diffusers' StableDiffusionInpaintPipeline does it, for both kinds of UNet (and
// as StableDiffusion3InpaintPipeline does for SD3's 16-channel transformer: the blend path, with
// flow matching's scale_noise as addNoise and the VAE's shift_factor):
// - an inpainting UNet (9 input channels) sees [latents (4), mask (1), masked-image latents (4)]
//   concatenated on channels at every step;
// - any other UNet (4 channels) denoises freely, and after every step the known region is put
//   back: the input's latents noised to the next timestep (scheduler.addNoise, with the same
//   noise the start latents had), clean after the last step, blended in by the latent mask.
// Then, unlike diffusers by default (its apply_overlay), the decoded pictures are pasted over the
// input through the feathered pixel mask: where the mask is 0 the input's pixels come back byte
// for byte, so the VAE round trip never touches what the user asked to keep.
//
// Start latents and generator draws, per image: the input's latent sample (when the UNet has 4
// channels or strength < 1), the noise, then the masked input's latent sample (which a 4-channel
// UNet does not need: the VAE call is skipped, the draws are still made so that schedulers that
// draw later see diffusers' stream). Strength 1 starts from pure noise × init_noise_sigma.
// diffusers encodes the input with the first generator only; here each image uses its own, so
// image i of a batch is what seed + i alone gives (identical to diffusers for one image).
import { latentsFromEncoding, skipEncodingDraws, strengthTail, type EncodedImage } from './img2img.js';
import { latentFillSource } from './inpaint-fill.js';
import { latentMask, maskedImageChw, type PixelMask } from './inpaint-mask.js';
import type { TorchGenerator } from './rng.js';
import type { Scheduler } from './schedulers/index.js';
import type { InpaintingFill } from './types.js';

export const LATENT_CHANNELS = 4;
/** sample channels of an inpainting UNet: latents + mask + masked-image latents. */
export const INPAINT_UNET_CHANNELS = 2 * LATENT_CHANNELS + 1;

export interface InpaintSetup {
  /** 4: blend the known region every step; 9: concatenate mask and masked-image latents. */
  unetChannels: 4 | 9;
  mask: PixelMask;
  /** The input as CHW pixels in [-1, 1], or a grey picture (zeros) when there is none. */
  imageChw: Float32Array;
  /** The input as packed RGB, for the final paste; absent when there is none. */
  imageRgb?: Uint8Array;
  strength: number;
  steps: number;
  lh: number;
  lw: number;
  scalingFactor: number;
  /** SD3: 16 latent channels, the VAE's shift_factor and its pipelines' strength rounding. */
  sd3?: { latentChannels: 16; shiftFactor: number };
  generators: readonly TorchGenerator[];
  schedulers: readonly Scheduler[];
  /** One vae_encoder call on CHW pixels of the grid's size. */
  encode(chw: Float32Array): Promise<EncodedImage>;
  /** A1111's latent starts for the masked region (inpaint-fill.ts); `fill` is applied to imageChw before. */
  fill?: InpaintingFill;
}

export interface InpaintStart {
  timesteps: number[];
  latents: Float32Array[];
  inpainter: Inpainter;
}

/** diffusers' prepare_latents + prepare_mask_latents, in its order. */
export async function prepareInpaint(s: InpaintSetup): Promise<InpaintStart> {
  const size = (s.sd3?.latentChannels ?? LATENT_CHANNELS) * s.lh * s.lw;
  const shift = s.sd3?.shiftFactor ?? 0;
  const tail = strengthTail(s.schedulers[0].timesteps, s.steps, s.strength, s.schedulers[0].order, s.sd3 ? 'sd3' : 'sd');
  // As diffusers' get_timesteps, even at strength 1: addNoise then follows the step counter.
  for (const sch of s.schedulers) sch.setBeginIndex?.(tail.beginIndex);
  const fromPureNoise = s.strength === 1;

  const needImageLatents = s.unetChannels === LATENT_CHANNELS || !fromPureNoise;
  const imageEnc = needImageLatents ? await s.encode(s.imageChw) : undefined;
  const imageLatents = imageEnc ? s.generators.map((g) => latentsFromEncoding(imageEnc, size, g, s.scalingFactor, shift)) : undefined;

  const noise = s.generators.map((g) => g.randn(size));
  const mask = latentMask(s.mask);
  const latents = noise.map((n, i) => {
    if (!fromPureNoise) return s.schedulers[i].addNoise(latentFillSource(s.fill ?? 'original', imageLatents![i], n, mask), n, tail.timesteps[0]);
    const sigma = s.schedulers[i].initNoiseSigma;
    const x = new Float32Array(n);
    if (sigma !== 1) for (let k = 0; k < x.length; k++) x[k] *= sigma;
    return x;
  });

  let maskedLatents: Float32Array[] | undefined;
  if (s.unetChannels === INPAINT_UNET_CHANNELS) {
    const maskedEnc = await s.encode(maskedImageChw(s.imageChw, s.mask));
    maskedLatents = s.generators.map((g) => latentsFromEncoding(maskedEnc, size, g, s.scalingFactor));
  } else {
    for (const g of s.generators) skipEncodingDraws(imageEnc!.output, size, g);
  }

  const inpainter = new Inpainter({
    mask: s.mask,
    latentMask: mask,
    imageRgb: s.imageRgb,
    timesteps: tail.timesteps,
    ...(maskedLatents ? { kind: 'concat', maskedLatents } : { kind: 'blend', imageLatents: imageLatents!, noise, schedulers: s.schedulers }),
  });
  return { timesteps: tail.timesteps, latents, inpainter };
}

type InpainterState = {
  mask: PixelMask;
  latentMask: Float32Array;
  imageRgb?: Uint8Array;
  timesteps: readonly number[];
} & (
  | { kind: 'concat'; maskedLatents: Float32Array[] }
  | { kind: 'blend'; imageLatents: Float32Array[]; noise: Float32Array[]; schedulers: readonly Scheduler[] }
);

export class Inpainter {
  constructor(private readonly state: InpainterState) {}

  /** Channels of the UNet's sample input. */
  get unetChannels(): number {
    return this.state.kind === 'concat' ? INPAINT_UNET_CHANNELS : LATENT_CHANNELS;
  }

  /**
   * The UNet's sample from the scaled latents [batch, 4, h, w], batch = [uncond × count, cond × count]
   * or [cond × count]: for an inpainting UNet each row becomes [latents, mask, masked-image latents].
   */
  unetSample(scaled: Float32Array, count: number): Float32Array {
    if (this.state.kind !== 'concat') return scaled;
    const plane = this.state.latentMask.length;
    const size = LATENT_CHANNELS * plane;
    const batch = scaled.length / size;
    const row = INPAINT_UNET_CHANNELS * plane;
    const out = new Float32Array(batch * row);
    for (let b = 0; b < batch; b++) {
      const o = b * row;
      out.set(scaled.subarray(b * size, (b + 1) * size), o);
      out.set(this.state.latentMask, o + size);
      out.set(this.state.maskedLatents[b % count], o + size + plane);
    }
    return out;
  }

  /**
   * After scheduler.step of image `i` at tail position `stepIndex` (4-channel UNets): the known
   * region is the input's latents noised to the next timestep, or clean after the last step.
   */
  afterStep(i: number, stepIndex: number, latents: Float32Array): Float32Array {
    if (this.state.kind !== 'blend') return latents;
    const { imageLatents, noise, schedulers, timesteps, latentMask: m } = this.state;
    const next = stepIndex + 1;
    const known = next < timesteps.length ? schedulers[i].addNoise(imageLatents[i], noise[i], timesteps[next]) : imageLatents[i];
    const plane = m.length;
    const out = new Float32Array(latents.length);
    for (let k = 0; k < latents.length; k++) {
      const w = m[k % plane];
      out[k] = (1 - w) * known[k] + w * latents[k];
    }
    return out;
  }

  /** Decoded pictures pasted over the input through the feathered mask (no input: unchanged). */
  pasteOver(rgbs: Uint8Array[]): Uint8Array[] {
    const original = this.state.imageRgb;
    if (!original) return rgbs;
    const { soft } = this.state.mask;
    return rgbs.map((rgb) => {
      const out = new Uint8Array(rgb.length);
      for (let p = 0; p < soft.length; p++) {
        const a = soft[p];
        for (let c = 0; c < 3; c++) {
          const k = p * 3 + c;
          out[k] = a === 0 ? original[k] : a === 1 ? rgb[k] : Math.round(original[k] + a * (rgb[k] - original[k]));
        }
      }
      return out;
    });
  }
}

// Where denoising starts when a request brings an image (or the UNet is an inpainting one):
// - input, no mask, regular UNet: image-to-image (img2img.ts);
// - input + mask, or an inpainting UNet with or without an input: inpainting (inpaint.ts). An
//   inpainting UNet without a mask repaints everything (mask all white; with no input, the
//   masked picture is plain grey), as A1111 runs such models for text-to-image;
// - strength 0 (or too few steps for the strength): nothing to denoise, the prepared input is
//   the result.
// - inpaintArea 'masked' (A1111's "Only masked"): the crop around the mask, scaled to width×height,
//   is what gets inpainted; pasteBack puts the result into the whole picture (inpaint-only-masked.ts).
//   An empty mask leaves nothing to repaint: the input is the result.
// Plain text-to-image (no input, regular UNet) gets undefined: the pipeline's own noise start.
import { rgbToChw } from './image-io.js';
import { img2imgStartLatents, initTimestep, startSchedulersAt, strengthTail, DEFAULT_INPAINT_STRENGTH, type EncodedImage } from './img2img.js';
import { fillMaskedRegion } from './inpaint-fill.js';
import { fullMask, prepareMask } from './inpaint-mask.js';
import { prepareInpaint, type Inpainter } from './inpaint.js';
import { cropForOnlyMasked, type OnlyMaskedCrop } from './inpaint-only-masked.js';
import { imageSize, prepareImage } from './image-prep.js';
import type { TorchGenerator } from './rng.js';
import type { Scheduler } from './schedulers/index.js';
import type { GenerationRequest } from './types.js';
import { DEFAULT_INPAINT_PADDING } from './validate.js';

const LATENT_CHANNELS = 4;

export interface ImageStartRequest
  extends Pick<GenerationRequest, 'initImage' | 'mask' | 'maskBlur' | 'maskInvert' | 'inpaintArea' | 'inpaintPadding' | 'inpaintingFill'> {
  /** Already defaulted (img2img.ts's defaultStrength); ignored without an input. */
  strength?: number;
  steps: number;
  width: number;
  height: number;
}

export interface ImageStartContext {
  unetChannels: 4 | 9;
  scalingFactor: number;
  /** SD3: 16 latent channels, the VAE's shift_factor and StableDiffusion3Img2ImgPipeline's strength rounding. */
  sd3?: { latentChannels: 16; shiftFactor: number };
  generators: readonly TorchGenerator[];
  schedulers: readonly Scheduler[];
  encode(chw: Float32Array): Promise<EncodedImage>;
}

export type ImageStart =
  | { kind: 'unchanged'; rgb: Uint8Array }
  | {
      kind: 'denoise';
      timesteps: number[];
      latents: Float32Array[];
      inpainter?: Inpainter;
      /** Only masked: the decoded crop pictures → whole pictures, pasted over the input. */
      pasteBack?: OnlyMaskedCrop['pasteBack'];
    };

export async function prepareImageStart(req: ImageStartRequest, ctx: ImageStartContext): Promise<ImageStart | undefined> {
  const { width, height, steps } = req;
  const inpainting = req.mask !== undefined || ctx.unetChannels !== LATENT_CHANNELS;
  if (!req.initImage && !inpainting) return undefined;

  const imageRgb = req.initImage ? await prepareImage(req.initImage, width, height) : undefined;
  const strength = imageRgb ? (req.strength ?? 1) : DEFAULT_INPAINT_STRENGTH;
  const rounding = ctx.sd3 ? 'sd3' : 'sd';
  if (imageRgb && (ctx.sd3 ? strengthTail(ctx.schedulers[0].timesteps, steps, strength, 1, rounding).timesteps.length : initTimestep(steps, strength)) === 0) {
    return { kind: 'unchanged', rgb: imageRgb };
  }
  const lh = height / 8;
  const lw = width / 8;
  const imageChw = imageRgb ? rgbToChw(imageRgb, width, height) : new Float32Array(3 * width * height);

  if (!inpainting) {
    const timesteps = startSchedulersAt(ctx.schedulers, steps, strength, rounding);
    const enc = await ctx.encode(imageChw);
    const channels = ctx.sd3?.latentChannels ?? LATENT_CHANNELS;
    const latents = img2imgStartLatents(enc, channels * lh * lw, ctx.generators, ctx.schedulers, timesteps[0], ctx.scalingFactor, ctx.sd3?.shiftFactor);
    return { kind: 'denoise', timesteps, latents };
  }
  const mask =
    req.mask && req.initImage
      ? await prepareMask(req.mask, await imageSize(req.initImage), width, height, req.maskBlur ?? 0, req.maskInvert)
      : fullMask(width, height);
  let crop: OnlyMaskedCrop | undefined;
  if (req.inpaintArea === 'masked' && imageRgb) {
    crop = await cropForOnlyMasked(imageRgb, mask, req.inpaintPadding ?? DEFAULT_INPAINT_PADDING);
    if (!crop) return { kind: 'unchanged', rgb: imageRgb };
  }
  const startMask = crop?.mask ?? mask;
  const startRgb = crop?.rgb ?? imageRgb;
  // A1111's "fill": the hole filled from its surroundings before encoding (only masked: in the
  // crop, as A1111 fills after cropping); the paste-back keeps the original.
  const startChw =
    req.inpaintingFill === 'fill' && startRgb && req.mask
      ? rgbToChw(await fillMaskedRegion(startRgb, width, height, startMask.soft), width, height)
      : crop
        ? rgbToChw(crop.rgb, width, height)
        : imageChw;
  const start = await prepareInpaint({
    unetChannels: ctx.unetChannels,
    mask: startMask,
    imageChw: startChw,
    fill: req.inpaintingFill,
    // Only masked: no paste over the crop; pasteBack pastes over the whole input instead.
    imageRgb: crop ? undefined : imageRgb,
    strength,
    steps,
    lh,
    lw,
    scalingFactor: ctx.scalingFactor,
    sd3: ctx.sd3,
    generators: ctx.generators,
    schedulers: ctx.schedulers,
    encode: ctx.encode,
  });
  return { kind: 'denoise', ...start, ...(crop ? { pasteBack: crop.pasteBack } : {}) };
}

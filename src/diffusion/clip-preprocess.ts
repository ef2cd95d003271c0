// CLIP image preprocessing, as transformers' CLIPImageProcessor does it for the safety
// checker: resize the shortest side (bicubic), centre-crop, rescale to [0, 1], normalise with
// CLIP's mean and std. The values come from the model's feature_extractor/preprocessor_config.json
// when it has one (both the old `size: 224` and the newer `{shortest_edge: 224}` spellings).
import { existsSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { z } from 'zod';
import { ModelError } from './errors.js';

export interface ClipPreprocessConfig {
  doResize: boolean;
  /** Target of the shortest side. */
  shortestEdge: number;
  doCenterCrop: boolean;
  cropWidth: number;
  cropHeight: number;
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  mean: [number, number, number];
  std: [number, number, number];
}

/** openai/clip-vit-large-patch14's values, which every SD 1.x/2.x feature_extractor carries. */
export const CLIP_DEFAULTS: ClipPreprocessConfig = {
  doResize: true,
  shortestEdge: 224,
  doCenterCrop: true,
  cropWidth: 224,
  cropHeight: 224,
  doRescale: true,
  rescaleFactor: 1 / 255,
  doNormalize: true,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

const triple = z.tuple([z.number(), z.number(), z.number()]);
const side = z.number().int().positive();
const configSchema = z.looseObject({
  do_resize: z.boolean().optional(),
  size: z.union([side, z.looseObject({ shortest_edge: side.optional(), height: side.optional(), width: side.optional() })]).optional(),
  do_center_crop: z.boolean().optional(),
  crop_size: z.union([side, z.looseObject({ height: side, width: side })]).optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: triple.optional(),
  image_std: triple.optional(),
});

/** Reads preprocessor_config.json (CLIP defaults for anything it leaves out, or when absent). */
export function readClipPreprocessConfig(path: string): ClipPreprocessConfig {
  if (!existsSync(path)) return CLIP_DEFAULTS;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ModelError(`${path} is not valid JSON: ${(err as Error).message}. Re-download the model.`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ModelError(`${path} is malformed: ${z.prettifyError(parsed.error)}`);
  const c = parsed.data;
  const d = CLIP_DEFAULTS;
  const size = typeof c.size === 'number' ? c.size : (c.size?.shortest_edge ?? c.size?.height ?? d.shortestEdge);
  const crop = typeof c.crop_size === 'number' ? { height: c.crop_size, width: c.crop_size } : (c.crop_size ?? { height: d.cropHeight, width: d.cropWidth });
  return {
    doResize: c.do_resize ?? d.doResize,
    shortestEdge: size,
    doCenterCrop: c.do_center_crop ?? d.doCenterCrop,
    cropWidth: crop.width,
    cropHeight: crop.height,
    doRescale: c.do_rescale ?? d.doRescale,
    rescaleFactor: c.rescale_factor ?? d.rescaleFactor,
    doNormalize: c.do_normalize ?? d.doNormalize,
    mean: c.image_mean ?? d.mean,
    std: c.image_std ?? d.std,
  };
}

/**
 * Packed RGB bytes (width×height) → CLIP pixel values, planar [3, cropHeight, cropWidth]
 * (or the resized size when cropping is off).
 */
export async function clipPixelValues(
  rgb: Uint8Array,
  width: number,
  height: number,
  cfg: ClipPreprocessConfig = CLIP_DEFAULTS,
): Promise<{ data: Float32Array; width: number; height: number }> {
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  let w = width;
  let h = height;
  if (cfg.doResize) {
    // transformers' get_resize_output_image_size: short side = size, long side truncated.
    const short = Math.min(width, height);
    const long = Math.max(width, height);
    const newLong = Math.floor((cfg.shortestEdge * long) / short);
    [w, h] = width <= height ? [cfg.shortestEdge, newLong] : [newLong, cfg.shortestEdge];
    // libvips' cubic is Catmull-Rom, the same kernel as PIL's BICUBIC (resample=3).
    if (w !== width || h !== height) img = img.resize(w, h, { kernel: 'cubic', fit: 'fill' });
  }
  if (cfg.doCenterCrop && (w !== cfg.cropWidth || h !== cfg.cropHeight)) {
    if (w < cfg.cropWidth || h < cfg.cropHeight) {
      throw new ModelError(
        `The safety checker's crop (${cfg.cropWidth}×${cfg.cropHeight}) is larger than its resize (${w}×${h}); check feature_extractor/preprocessor_config.json.`,
      );
    }
    const left = Math.floor((w - cfg.cropWidth) / 2);
    const top = Math.floor((h - cfg.cropHeight) / 2);
    // After resize() in the chain, sharp crops the resized image.
    img = img.extract({ left, top, width: cfg.cropWidth, height: cfg.cropHeight });
    [w, h] = [cfg.cropWidth, cfg.cropHeight];
  }
  const pixels = await img.raw().toBuffer();
  const plane = w * h;
  const out = new Float32Array(3 * plane);
  const scale = cfg.doRescale ? cfg.rescaleFactor : 1;
  for (let c = 0; c < 3; c++) {
    const mean = cfg.doNormalize ? cfg.mean[c] : 0;
    const std = cfg.doNormalize ? cfg.std[c] : 1;
    for (let p = 0; p < plane; p++) out[c * plane + p] = (pixels[p * 3 + c] * scale - mean) / std;
  }
  return { data: out, width: w, height: h };
}

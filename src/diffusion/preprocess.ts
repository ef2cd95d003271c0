// The control image → the map a ControlNet reads: fitted to the output size the way init images
// are (cover, centre-crop: image-prep.ts), so a control map lines up with an image-to-image
// input, then `canny` edges (preprocess-canny.ts) or, for `none`, the picture as it is (a
// ready-made edge, depth or pose map). The result is diffusers' ControlNet input: RGB in 0–1,
// channels first (its control image processor does not normalise to −1…1).
import { cannyEdges } from './preprocess-canny.js';
import { InputError } from './errors.js';
import { prepareImage } from './image-prep.js';
import type { ControlPreprocessor } from './types.js';

export const CANNY_DEFAULTS = { low: 100, high: 200 } as const;

export interface ControlMap {
  /** [3, height, width] in 0–1. */
  chw: Float32Array;
  width: number;
  height: number;
}

/** The packed-RGB control map (what the ControlNet sees, before scaling to 0–1). */
export async function controlMapRgb(
  image: Uint8Array,
  width: number,
  height: number,
  preprocessor: ControlPreprocessor,
  canny: { low?: number; high?: number } = {},
): Promise<Uint8Array> {
  const rgb = await prepareImage(image, width, height).catch((err: unknown) => {
    throw err instanceof InputError ? new InputError(err.message.replace('The input image', 'The control image')) : err;
  });
  if (preprocessor === 'none') return rgb;
  const edges = await cannyEdges(rgb, width, height, canny.low ?? CANNY_DEFAULTS.low, canny.high ?? CANNY_DEFAULTS.high);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < edges.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = edges[i];
  return out;
}

export async function prepareControlMap(
  image: Uint8Array,
  width: number,
  height: number,
  preprocessor: ControlPreprocessor,
  canny: { low?: number; high?: number } = {},
): Promise<ControlMap> {
  const rgb = await controlMapRgb(image, width, height, preprocessor, canny);
  const plane = width * height;
  const chw = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) chw[c * plane + i] = rgb[3 * i + c] / 255;
  return { chw, width, height };
}

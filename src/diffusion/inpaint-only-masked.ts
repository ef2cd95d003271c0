// "Only masked" inpainting (A1111's inpaint_full_res): the model repaints a crop around the mask
// scaled up to the full width×height (more pixels for a small region), and the result is scaled
// back down and pasted into the whole picture through the feathered mask of the whole picture, so
// that outside the mask the input's pixels come back byte for byte. Geometry in inpaint-crop.ts.
import sharp from 'sharp';
import { type CropRegion, onlyMaskedRegion } from './inpaint-crop.js';
import type { PixelMask } from './inpaint-mask.js';

export interface OnlyMaskedCrop {
  region: CropRegion;
  /** The crop of the input, scaled to width×height. */
  rgb: Uint8Array;
  /** The crop of the feathered mask, scaled to width×height (repaint: thresholded at one half, as inpaint-mask.ts). */
  mask: PixelMask;
  /** Decoded width×height pictures of the crop → whole pictures: scaled back, pasted over the input. */
  pasteBack(rgbs: Uint8Array[]): Promise<Uint8Array[]>;
}

/** The crop to inpaint, or undefined when the mask is empty (nothing to repaint). */
export async function cropForOnlyMasked(imageRgb: Uint8Array, mask: PixelMask, padding: number): Promise<OnlyMaskedCrop | undefined> {
  const { width, height } = mask;
  const region = onlyMaskedRegion(mask.soft, width, height, padding);
  if (!region) return undefined;
  const feathered = Uint8Array.from(mask.soft, (a) => Math.round(a * 255));
  const rgb = await resizeRegion(imageRgb, 3, width, height, region, width, height);
  const scaled = await resizeRegion(feathered, 1, width, height, region, width, height);
  const cropMask: PixelMask = { width, height, soft: Float32Array.from(scaled, (v) => v / 255), repaint: Uint8Array.from(scaled, (v) => (v >= 128 ? 1 : 0)) };
  const pasteBack = async (rgbs: Uint8Array[]): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for (const generated of rgbs) {
      const back = await resizeRegion(generated, 3, width, height, { x1: 0, y1: 0, x2: width, y2: height }, region.x2 - region.x1, region.y2 - region.y1);
      out.push(pasteInto(imageRgb, width, mask.soft, back, region));
    }
    return out;
  };
  return { region, rgb, mask: cropMask, pasteBack };
}

/** `region` of a packed width×height picture, scaled (Lanczos, stretched) to outWidth×outHeight. */
async function resizeRegion(
  pixels: Uint8Array,
  channels: 1 | 3,
  width: number,
  height: number,
  region: CropRegion,
  outWidth: number,
  outHeight: number,
): Promise<Uint8Array> {
  const left = region.x1;
  const top = region.y1;
  const w = region.x2 - region.x1;
  const h = region.y2 - region.y1;
  let img = sharp(pixels, { raw: { width, height, channels } });
  if (left !== 0 || top !== 0 || w !== width || h !== height) img = img.extract({ left, top, width: w, height: h });
  if (w !== outWidth || h !== outHeight) img = img.resize(outWidth, outHeight, { fit: 'fill', kernel: 'lanczos3' });
  if (channels === 1) img = img.extractChannel(0);
  const data = await img.raw({ depth: 'uchar' }).toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** The input with `patch` (the region's size) blended in by the whole picture's soft mask; outside the region, or where the mask is 0, the input as it was. */
function pasteInto(original: Uint8Array, width: number, soft: Float32Array, patch: Uint8Array, region: CropRegion): Uint8Array {
  const out = new Uint8Array(original);
  const pw = region.x2 - region.x1;
  for (let y = region.y1; y < region.y2; y++) {
    for (let x = region.x1; x < region.x2; x++) {
      const p = y * width + x;
      const a = soft[p];
      if (a === 0) continue;
      const q = ((y - region.y1) * pw + (x - region.x1)) * 3;
      for (let c = 0; c < 3; c++) {
        const k = p * 3 + c;
        out[k] = a === 1 ? patch[q + c] : Math.round(original[k] + a * (patch[q + c] - original[k]));
      }
    }
  }
  return out;
}

// The inpainting mask, from any image to what the pipeline needs: white = repaint, black = keep.
//
// As diffusers' mask processor: luminance, thresholded at one half. Then an optional Gaussian
// blur (sigma = maskBlur pixels, PIL's GaussianBlur radius) feathers the edge; the feathered mask
// thresholded again at one half is the region the model repaints (so blur also rounds corners
// and drops specks smaller than the blur), and the feathered mask itself is the alpha of the
// final paste over the original (inpaint.ts). The latent mask samples it at the top-left pixel
// of every 8×8 block, as diffusers' nearest-neighbour interpolate does.
import sharp from 'sharp';
import { prepareMaskPlane, type ImageSize } from './image-prep.js';

const VAE_SCALE = 8;
/** sharp's Gaussian blur needs sigma ≥ 0.3; smaller blurs would not change the 8-bit mask anyway. */
const MIN_SIGMA = 0.3;

export interface PixelMask {
  width: number;
  height: number;
  /** Feathered mask in [0, 1] per pixel (1 = repaint): the paste-back alpha. */
  soft: Float32Array;
  /** soft ≥ 0.5: the region the model repaints. */
  repaint: Uint8Array;
}

/** 8-bit luminance → the mask, thresholded (inverted: dark repaints) and (blur > 0) feathered. */
export async function maskFromPlane(plane: Uint8Array, width: number, height: number, blur = 0, invert = false): Promise<PixelMask> {
  const hard = new Uint8Array(width * height);
  // Inverted before the blur, as A1111 inverts the mask image before blurring it.
  for (let i = 0; i < hard.length; i++) hard[i] = plane[i] >= 128 !== invert ? 255 : 0;
  let feathered = hard;
  if (blur > 0) {
    const out = await sharp(hard, { raw: { width, height, channels: 1 } })
      .blur(Math.max(blur, MIN_SIGMA))
      .extractChannel(0)
      .raw({ depth: 'uchar' })
      .toBuffer();
    feathered = new Uint8Array(out.buffer, out.byteOffset, out.length);
  }
  const soft = new Float32Array(width * height);
  const repaint = new Uint8Array(width * height);
  for (let i = 0; i < soft.length; i++) {
    soft[i] = feathered[i] / 255;
    repaint[i] = feathered[i] >= 128 ? 1 : 0;
  }
  return { width, height, soft, repaint };
}

/** The mask image placed over the input (image-prep.ts's geometry), thresholded and feathered. */
export async function prepareMask(bytes: Uint8Array, input: ImageSize, width: number, height: number, blur = 0, invert = false): Promise<PixelMask> {
  return maskFromPlane(await prepareMaskPlane(bytes, input, width, height), width, height, blur, invert);
}

/** A mask that repaints everything (inpainting UNets asked for text-to-image or plain image-to-image). */
export function fullMask(width: number, height: number): PixelMask {
  return { width, height, soft: new Float32Array(width * height).fill(1), repaint: new Uint8Array(width * height).fill(1) };
}

/** [lh, lw] latent mask, 1 = repaint: the top-left pixel of each 8×8 block (torch's nearest interpolate). */
export function latentMask(mask: PixelMask): Float32Array {
  const lw = mask.width / VAE_SCALE;
  const lh = mask.height / VAE_SCALE;
  const out = new Float32Array(lw * lh);
  for (let y = 0; y < lh; y++) {
    for (let x = 0; x < lw; x++) out[y * lw + x] = mask.repaint[y * VAE_SCALE * mask.width + x * VAE_SCALE];
  }
  return out;
}

/** diffusers' masked_image = image × (mask < 0.5), on CHW pixels in [-1, 1]: the repaint region becomes 0 (mid grey). */
export function maskedImageChw(chw: Float32Array, mask: PixelMask): Float32Array {
  const plane = mask.width * mask.height;
  const out = new Float32Array(chw.length);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) out[c * plane + i] = mask.repaint[i] ? 0 : chw[c * plane + i];
  }
  return out;
}

// OpenAI's edit mask into the engine's. OpenAI's mask is a PNG of the image's size whose fully
// transparent pixels (alpha 0) are where the image is edited; the engine reads white as repaint,
// black as keep, from any image's luminance (src/diffusion/inpaint-mask.ts).
//
// The one place the API process decodes an untrusted image (everything else is only sniffed by
// its magic bytes and decoded in the worker, images.ts): the alpha channel is gone by the time
// the worker sees the mask, and a mask without alpha or of another size must be refused while
// the client still waits for the answer. The decode is capped in pixels so a small file
// cannot unpack into gigabytes (a "decompression bomb").
import sharp, { type Metadata } from 'sharp';
import { ApiError } from './errors.js';

/** Width × height at most: 8192² is far above any size the engine draws at. */
const MAX_MASK_SIDE = 8192;
export const MAX_MASK_PIXELS = MAX_MASK_SIDE * MAX_MASK_SIDE;

const refuse = (message: string) => new ApiError(400, message, { param: 'mask', code: 'invalid_image' });

/** Size after EXIF rotation (orientations 5–8 swap the sides), from the header alone. */
async function orientedSize(bytes: Uint8Array, what: string): Promise<{ width: number; height: number; hasAlpha: boolean }> {
  let meta: Metadata;
  try {
    // The header only (no pixels are decoded here), so any size can be named in the refusal.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ApiError(400, `${what} could not be read (${(err as Error).message}).`, { param: what, code: 'invalid_image' });
  }
  if (!meta.width || !meta.height) throw new ApiError(400, `${what} has no size.`, { param: what, code: 'invalid_image' });
  const swap = (meta.orientation ?? 1) >= 5;
  return { width: swap ? meta.height : meta.width, height: swap ? meta.width : meta.height, hasAlpha: meta.hasAlpha };
}

/**
 * The engine's mask (a greyscale PNG, white where alpha is 0) from an OpenAI mask, which must have
 * an alpha channel and the image's size; refusals name `mask`.
 */
export async function repaintMaskFromAlpha(mask: Uint8Array, image: Uint8Array): Promise<Uint8Array> {
  const m = await orientedSize(mask, 'mask');
  if (m.width * m.height > MAX_MASK_PIXELS) throw refuse(`mask is ${m.width}×${m.height}: at most ${MAX_MASK_SIDE}×${MAX_MASK_SIDE} pixels are read.`);
  if (!m.hasAlpha) {
    throw refuse('mask has no alpha channel: send a PNG whose fully transparent pixels (alpha 0) mark where the image is edited.');
  }
  const i = await orientedSize(image, 'image');
  if (m.width !== i.width || m.height !== i.height) {
    throw refuse(`mask is ${m.width}×${m.height} but image is ${i.width}×${i.height}: they must be the same size.`);
  }
  try {
    const alpha = await sharp(mask, { limitInputPixels: MAX_MASK_PIXELS, failOn: 'error' })
      .autoOrient()
      .extractChannel('alpha')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    // Only alpha 0 is edited: a pixel with any opacity at all is kept, as OpenAI reads it.
    const plane = Buffer.alloc(alpha.info.width * alpha.info.height);
    for (let p = 0; p < plane.length; p++) plane[p] = alpha.data[p * alpha.info.channels] === 0 ? 255 : 0;
    const png = await sharp(plane, { raw: { width: alpha.info.width, height: alpha.info.height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    return new Uint8Array(png.buffer, png.byteOffset, png.length);
  } catch (err) {
    throw refuse(`mask could not be read (${(err as Error).message}).`);
  }
}

// OpenAI's edit mask into the engine's. OpenAI's mask is a PNG of the image's size whose fully
// transparent pixels (alpha 0) are where the image is edited (without a mask, the image's own
// transparent pixels are, as DALL·E 2 reads them); the engine reads white as repaint, black as
// keep, from any image's luminance (src/diffusion/inpaint-mask.ts).
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
  const out = await alphaZeroMask(mask, 'mask');
  return out.png;
}

/**
 * DALL·E 2's rule for an edit without a mask: the image's own fully transparent pixels are where
 * it is edited. The engine's mask from them, or undefined when the image has no alpha channel or
 * no pixel with alpha 0 (then the whole image is redrawn, as gpt-image-1 edits). Refusals name
 * `image`.
 */
export async function repaintMaskFromTransparency(image: Uint8Array): Promise<Uint8Array | undefined> {
  const i = await orientedSize(image, 'image');
  if (!i.hasAlpha) return undefined;
  if (i.width * i.height > MAX_MASK_PIXELS) {
    throw new ApiError(400, `image is ${i.width}×${i.height}: its transparency is read up to ${MAX_MASK_SIDE}×${MAX_MASK_SIDE} pixels.`, {
      param: 'image',
      code: 'invalid_image',
    });
  }
  const out = await alphaZeroMask(image, 'image');
  return out.edited > 0 ? out.png : undefined;
}

/** White where the image's alpha is 0, black elsewhere, as a greyscale PNG; decoding capped in pixels. */
async function alphaZeroMask(bytes: Uint8Array, what: 'mask' | 'image'): Promise<{ png: Uint8Array; edited: number }> {
  try {
    const alpha = await sharp(bytes, { limitInputPixels: MAX_MASK_PIXELS, failOn: 'error' })
      .autoOrient()
      .extractChannel('alpha')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    // Only alpha 0 is edited: a pixel with any opacity at all is kept, as OpenAI reads it.
    const plane = Buffer.alloc(alpha.info.width * alpha.info.height);
    let edited = 0;
    for (let p = 0; p < plane.length; p++) {
      if (alpha.data[p * alpha.info.channels] === 0) {
        plane[p] = 255;
        edited++;
      }
    }
    const png = await sharp(plane, { raw: { width: alpha.info.width, height: alpha.info.height, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toBuffer();
    return { png: new Uint8Array(png.buffer, png.byteOffset, png.length), edited };
  } catch (err) {
    throw new ApiError(400, `${what} could not be read (${(err as Error).message}).`, { param: what, code: 'invalid_image' });
  }
}

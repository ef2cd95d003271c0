// Input images for image-to-image and inpainting: whatever the user uploads (PNG, JPEG, WebP,
// GIF, TIFF; alpha, greyscale, 16-bit, CMYK, EXIF-rotated phone photos) becomes packed 8-bit sRGB
// at exactly the generation grid.
//
// The grid rule:
// - The request's width × height is the grid (validate.ts: multiples of 8, 64 safest). The input
//   is scaled to cover it with its aspect ratio kept (Lanczos), and the overflow is cropped
//   evenly from both sides: nothing is stretched, and an input already at the grid size is used
//   pixel for pixel.
// - A caller with no size of its own (the CLI without --size) asks `gridSizeForImage`: the
//   input's aspect ratio at about the model's default area, sides rounded to multiples of 64,
//   so little is cropped.
import sharp from 'sharp';
import { InputError } from './errors.js';
import { fitSizeToArea } from './image-io.js';
import { MAX_SIDE } from './validate.js';

/** The input's size after EXIF rotation. */
export { imageSize } from './image-io.js';

export interface ImageSize {
  width: number;
  height: number;
}

function unreadable(what: string, err: unknown): InputError {
  return new InputError(`The ${what} could not be read (${(err as Error).message}). Use a PNG, JPEG or WebP file.`);
}

/** Decoded, auto-rotated image, before any resizing. */
function decode(bytes: Uint8Array): ReturnType<typeof sharp> {
  return sharp(bytes, { failOn: 'error' }).autoOrient();
}

/**
 * The generation size for an input when the caller gave none: aspect kept, about `area` pixels,
 * multiples of 64, no side over MAX_SIDE (a panorama is cropped rather than refused).
 */
export function gridSizeForImage(input: ImageSize, area: number): ImageSize {
  const { width, height } = fitSizeToArea(input.width, input.height, area);
  return { width: Math.min(width, MAX_SIDE), height: Math.min(height, MAX_SIDE) };
}

/**
 * Packed RGB (3 bytes per pixel, width × height) of the input: EXIF rotation applied, alpha
 * flattened onto white, greyscale / CMYK / 16-bit converted to 8-bit sRGB, then scaled to cover
 * width × height and centre-cropped (see the grid rule above).
 */
export async function prepareImage(bytes: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  try {
    const { data } = await decode(bytes)
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(width, height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    throw unreadable('input image', err);
  }
}

/**
 * One 8-bit luminance plane (width × height) of a mask image, placed exactly over the input:
 * first stretched to the input's own (oriented) size, so a mask of another size or aspect
 * still covers the whole input, then given the input's cover-and-crop. Transparent pixels count
 * as black (keep), so a mask painted on a transparent layer works.
 */
export async function prepareMaskPlane(bytes: Uint8Array, input: ImageSize, width: number, height: number): Promise<Uint8Array> {
  try {
    const onInput = await decode(bytes)
      .flatten({ background: '#000000' })
      .toColourspace('b-w')
      .resize(input.width, input.height, { fit: 'fill', kernel: 'lanczos3' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const { data, info } = await sharp(onInput.data, { raw: { width: onInput.info.width, height: onInput.info.height, channels: onInput.info.channels } })
      .resize(width, height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
      .extractChannel(0)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new Error(`expected one channel, got ${info.channels}`);
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw unreadable('mask image', err);
  }
}

// Image ↔ tensor conversions for the VAE, and size helpers for input images (their
// normalisation to the generation grid is image-prep.ts).
import sharp from 'sharp';
import { InputError } from './errors.js';

/**
 * VAE output (NCHW, one image, roughly [-1, 1]) → packed RGB bytes, as round((x / 2 + 0.5) · 255)
 * clamped to 0–255. A Uint8ClampedArray store clamps and rounds (NaN → 0) in one instruction;
 * its ties-to-even differs from Math.round only at an exact .5, which for float32 input happens
 * at 127.5 alone (x = 0), where both give 128.
 */
export function chwToRgb(data: Float32Array, width: number, height: number, offset = 0): Uint8Array {
  const plane = width * height;
  const out = new Uint8ClampedArray(plane * 3);
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0, o = c; i < plane; i++, o += 3) out[o] = (data[base + i] / 2 + 0.5) * 255;
  }
  return new Uint8Array(out.buffer);
}

/** Packed RGB bytes → NCHW float in [-1, 1], as diffusers' image processor normalises. */
export function rgbToChw(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (rgb[i * 3 + c] / 255) * 2 - 1;
  }
  return out;
}

/**
 * The size an input image should be generated at when the user gave none: its aspect ratio
 * kept, an area close to the model's default, both sides multiples of 64 (the UNet's grid).
 */
export function fitSizeToArea(inputWidth: number, inputHeight: number, area: number): { width: number; height: number } {
  const scale = Math.sqrt(area / (inputWidth * inputHeight));
  const snap = (v: number) => Math.max(64, Math.round((v * scale) / 64) * 64);
  return { width: snap(inputWidth), height: snap(inputHeight) };
}

export async function imageSize(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  try {
    const meta = await sharp(bytes).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
    // EXIF orientations 5–8 swap width and height.
    const swap = (meta.orientation ?? 1) >= 5;
    return swap ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
  } catch (err) {
    throw new InputError(`The input image could not be read (${(err as Error).message}). Use a PNG, JPEG or WebP file.`);
  }
}

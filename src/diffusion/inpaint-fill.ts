// A1111's `inpainting_fill` starts for the masked region (modules/masking.py `fill` and
// processing.py's init_latent handling), beside the default "original" (the input itself):
// - fill: the hole is filled with its surroundings' colours before the input is encoded. The kept
//   part, with alpha 1 − mask, is blurred (alpha-weighted) at falling radii (256, 64, 16, 4, 2,
//   0 px) and each blur composited over the last, so far-away colours fill the middle of
//   the hole and nearby ones its edge; kept pixels come out as they went in.
// - latent noise / latent nothing: the start latents' masked part is the image's noise (the same
//   draw that noises the start, as A1111 uses the seed's tensor) or zeros, blended in by the
//   latent mask; the kept region's latents stay the input's.
import sharp from 'sharp';
import type { InpaintingFill } from './types.js';

const FILL_PASSES: ReadonlyArray<readonly [sigma: number, repeats: number]> = [
  [256, 1],
  [64, 1],
  [16, 2],
  [4, 4],
  [2, 2],
  [0, 1],
];

/** Packed RGB with the masked region (soft: 1 = repaint) filled from its surroundings. */
export async function fillMaskedRegion(rgb: Uint8Array, width: number, height: number, soft: Float32Array): Promise<Uint8Array> {
  const n = width * height;
  // The kept part as RGBA, alpha 1 − mask. sharp blurs RGBA with premultiplied alpha itself (and
  // hands back straight alpha), as PIL's blur of an "RGBa" image converted back to "RGBA".
  const kept = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    kept.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
    kept[i * 4 + 3] = Math.round(255 * (1 - soft[i]));
  }
  // Straight-alpha "over" compositing onto an empty layer, one blurred copy at a time.
  const out = new Float32Array(n * 4);
  for (const [sigma, repeats] of FILL_PASSES) {
    const blurred =
      sigma === 0
        ? kept
        : await sharp(kept, { raw: { width, height, channels: 4 } })
            // PIL's GaussianBlur radius is the standard deviation; libvips' approximate blur is a box cascade as PIL's.
            .blur({ sigma: Math.min(sigma, Math.max(width, height)), precision: 'approximate' })
            .raw()
            .toBuffer();
    for (let r = 0; r < repeats; r++) {
      for (let i = 0; i < n; i++) {
        const a = blurred[i * 4 + 3] / 255;
        if (a === 0) continue;
        const dstA = out[i * 4 + 3];
        const outA = a + dstA * (1 - a);
        for (let c = 0; c < 3; c++) out[i * 4 + c] = (blurred[i * 4 + c] * a + out[i * 4 + c] * dstA * (1 - a)) / outA;
        out[i * 4 + 3] = outA;
      }
    }
  }
  const filled = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    // Where the blur left nothing at all (a mask covering everything), grey as an empty input.
    if (out[i * 4 + 3] === 0) filled.fill(128, i * 3, i * 3 + 3);
    else for (let c = 0; c < 3; c++) filled[i * 3 + c] = Math.round(out[i * 4 + c]);
  }
  // Kept pixels exactly as they were (the last pass composites them at alpha 1 already, up to rounding).
  for (let i = 0; i < n; i++) if (soft[i] === 0) filled.set(rgb.subarray(i * 3, i * 3 + 3), i * 3);
  return filled;
}

/**
 * The start latents' source for a latent fill: the image latents with the masked part (latent
 * mask m, 1 = repaint) replaced by `noise` (latent_noise) or zeros (latent_nothing).
 */
export function latentFillSource(fill: InpaintingFill, imageLatents: Float32Array, noise: Float32Array, latentMask: Float32Array): Float32Array {
  if (fill !== 'latent_noise' && fill !== 'latent_nothing') return imageLatents;
  const plane = latentMask.length;
  const out = new Float32Array(imageLatents.length);
  for (let k = 0; k < out.length; k++) {
    const m = latentMask[k % plane];
    out[k] = (1 - m) * imageLatents[k] + (fill === 'latent_noise' ? m * noise[k] : 0);
  }
  return out;
}

// VAE decoding strategies: the whole batch in one call, one image at a time (diffusers'
// enable_vae_slicing, and what its ONNX pipeline always does), or in overlapping latent tiles
// blended in pixel space (enable_vae_tiling), so a large image never needs the decoder's
// activations for the whole picture at once.
import { chwToRgb } from './image-io.js';
import { cropPlanar, TileBlender, tileGrid } from './tiles.js';

const VAE_SCALE = 8;

/**
 * Runs the VAE decoder on `batch` latents stacked as [batch, C, lh, lw] (already unscaled: divided
 * by the scaling factor, SD3's shift added back) and returns its raw output [batch, 3, lh·8, lw·8],
 * roughly in [-1, 1].
 */
export type VaeRunner = (latents: Float32Array, batch: number, lh: number, lw: number) => Promise<Float32Array>;

export interface VaeDecodeStrategy {
  /** One call per image (true) or one call for the batch (false). */
  vaeSlicing: boolean;
  /** Latent tile side and overlap in latent pixels; absent = never tile. */
  vaeTiling?: { tileSize: number; overlap: number };
}

/**
 * Decodes latents (one Float32Array per image, [C, lh, lw] as the denoiser sees them) to packed
 * RGB bytes: z = latents / scaling_factor + shift_factor (diffusers; the shift is SD3's, 0 for SD).
 */
export async function decodeLatents(
  latents: Float32Array[],
  lh: number,
  lw: number,
  scalingFactor: number,
  run: VaeRunner,
  strategy: VaeDecodeStrategy,
  shiftFactor = 0,
): Promise<Uint8Array[]> {
  const f = 1 / scalingFactor;
  const scaled = latents.map((l) => {
    const s = new Float32Array(l.length);
    for (let i = 0; i < l.length; i++) s[i] = l[i] * f + shiftFactor;
    return s;
  });
  const width = lw * VAE_SCALE;
  const height = lh * VAE_SCALE;
  const tiling = strategy.vaeTiling;
  if (tiling && (lh > tiling.tileSize || lw > tiling.tileSize)) {
    const out: Uint8Array[] = [];
    for (const s of scaled) out.push(chwToRgb(await decodeTiled(s, lh, lw, run, tiling), width, height));
    return out;
  }
  if (strategy.vaeSlicing || scaled.length === 1) {
    const out: Uint8Array[] = [];
    for (const s of scaled) out.push(chwToRgb(await run(s, 1, lh, lw), width, height));
    return out;
  }
  const batch = new Float32Array(scaled.length * scaled[0].length);
  scaled.forEach((s, i) => batch.set(s, i * s.length));
  const img = await run(batch, scaled.length, lh, lw);
  return scaled.map((_, i) => chwToRgb(img, width, height, i * 3 * width * height));
}

/**
 * Decodes one unscaled latent [C, lh, lw] tile by tile: tiles of `tileSize` latent pixels that
 * overlap by `overlap`, each decoded alone and blended with linear ramps across the overlap.
 */
export async function decodeTiled(
  latent: Float32Array,
  lh: number,
  lw: number,
  run: VaeRunner,
  tiling: { tileSize: number; overlap: number },
): Promise<Float32Array> {
  const channels = latent.length / (lh * lw);
  const blender = new TileBlender(3, lw * VAE_SCALE, lh * VAE_SCALE, tiling.overlap * VAE_SCALE);
  for (const r of tileGrid(lw, lh, tiling.tileSize, tiling.overlap)) {
    const tile = cropPlanar(latent, channels, lw, lh, r);
    const img = await run(tile, 1, r.height, r.width);
    blender.add(img, r.x * VAE_SCALE, r.y * VAE_SCALE, r.width * VAE_SCALE, r.height * VAE_SCALE);
  }
  return blender.result();
}

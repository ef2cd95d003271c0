// The tiny VAE. The decoder maps latents to colours with the widely used linear latent→RGB
// approximation for SD 1.x/2.x (so the pipeline's cheap step previews match the final image),
// upsamples them bilinearly 8× as one 3×3 convolution to 3·64 channels + DepthToSpace (CRD),
// adds a little seeded texture, and squashes with Tanh. The encoder inverts that: atanh,
// SpaceToDepth, and a 1×1 convolution that averages each 8×8 patch through the colour
// mix's pseudo-inverse, so decode(encode(image)) ≈ image for image-to-image.
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { WeightStream } from './weights.js';

export const VAE_SCALING_FACTOR = 0.18215;
const SCALE = 8;
const SUBPIXELS = SCALE * SCALE;

/** Scaled latent channel → RGB (rows: latent channels, columns: R, G, B). */
const LATENT_RGB = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];
/** Texture weight spread, small against the colour weights (~0.05 of the pixel range). */
const DETAIL_STD = 0.0004;
/** Encoder input clip before atanh: keeps latents of saturated colours finite and moderate. */
const ENCODER_CLIP = 0.98;
/** Log-variance written into latent_parameters: an almost deterministic encoder. */
const LOGVAR = -10;

/**
 * A latent space: its channels, the latent→RGB factors its previews use (rows: channels,
 * columns: R, G, B, on scaled latents), their bias, and the VAE config's scaling and shift.
 */
export interface LatentSpace {
  channels: number;
  rgbFactors: readonly (readonly number[])[];
  rgbBias?: readonly number[];
  scalingFactor: number;
  shiftFactor?: number;
}

/** SD 1.x/2.x: 4 channels, scaling 0.18215, no shift. */
export const SD_LATENTS: LatentSpace = { channels: 4, rgbFactors: LATENT_RGB, scalingFactor: VAE_SCALING_FACTOR };

/** Colour mix for decoder inputs (unscaled latents): [rgb][latent channel]. */
function colourMix(space: LatentSpace): number[][] {
  return [0, 1, 2].map((ch) => space.rgbFactors.map((row) => row[ch] * space.scalingFactor));
}

/**
 * The colour offset on unscaled latents: the factors' bias less what the shift adds, since the
 * previews see (z − shift) · scale. Zero for SD.
 */
function colourOffset(space: LatentSpace): number[] {
  const shift = space.shiftFactor ?? 0;
  return [0, 1, 2].map((ch) => {
    let v = space.rgbBias?.[ch] ?? 0;
    for (const row of space.rgbFactors) v -= row[ch] * space.scalingFactor * shift;
    return v;
  });
}

/** 1-D weights over [i-1, i, i+1] for sub-pixel p of a half-pixel-aligned linear 8× upsample. */
function bilinearTaps(p: number): [number, number, number] {
  const o = (p - (SCALE - 1) / 2) / SCALE;
  return [Math.max(-o, 0), 1 - Math.abs(o), Math.max(o, 0)];
}

export function buildVaeDecoder(spec: { float: 'float32' | 'float16'; seed: number; latents?: LatentSpace }): EncodedModel {
  const space = spec.latents ?? SD_LATENTS;
  const C = space.channels;
  const g = new GraphBuilder({ name: 'vae_decoder', floatStorage: spec.float });
  const w = new WeightStream(spec.seed, 'vae_decoder');
  const z = g.floatInput('latent_sample', spec.float, ['batch_size', C, 'height_latent', 'width_latent']);

  const mix = colourMix(space);
  const outC = 3 * SUBPIXELS;
  const weights = new Float32Array(outC * C * 9);
  for (let ch = 0; ch < 3; ch++) {
    for (let k = 0; k < C; k++) {
      // Zero-mean texture across the 64 sub-pixels, so patch averages (what the encoder sees) keep the colour.
      const detail = w.normals(SUBPIXELS * 9, DETAIL_STD);
      for (let tap = 0; tap < 9; tap++) {
        let mean = 0;
        for (let p = 0; p < SUBPIXELS; p++) mean += detail[p * 9 + tap] / SUBPIXELS;
        for (let p = 0; p < SUBPIXELS; p++) detail[p * 9 + tap] -= mean;
      }
      for (let dy = 0; dy < SCALE; dy++) {
        for (let dx = 0; dx < SCALE; dx++) {
          const p = dy * SCALE + dx;
          const [ty, tx] = [bilinearTaps(dy), bilinearTaps(dx)];
          for (let ky = 0; ky < 3; ky++) {
            for (let kx = 0; kx < 3; kx++) {
              const o = ((ch * SUBPIXELS + p) * C + k) * 9 + ky * 3 + kx; // DepthToSpace CRD channel order
              weights[o] = mix[ch][k] * ty[ky] * tx[kx] + detail[p * 9 + ky * 3 + kx];
            }
          }
        }
      }
    }
  }
  // Edge padding: a zero border would darken the picture's rim.
  const padded = g.op('Pad', [z, g.int64s('pads', [0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'edge' });
  const offset = colourOffset(space);
  const bias = Float32Array.from({ length: outC }, (_, o) => offset[Math.floor(o / SUBPIXELS)]);
  const conv = g.op('Conv', [padded, g.floats('upsample_w', weights, [outC, C, 3, 3]), g.floats('upsample_b', bias, [outC])], {
    kernel_shape: [3, 3],
  });
  const rgb = g.op('DepthToSpace', [conv], { blocksize: SCALE, mode: 'CRD' });
  g.floatOutput(g.op('Tanh', [rgb]), 'sample', spec.float, ['batch_size', 3, 'height', 'width']);
  return g.encode();
}

/** Moore–Penrose pseudo-inverse of a full-row-rank r×c matrix: Aᵀ (A Aᵀ)⁻¹. */
function pseudoInverse(a: number[][]): number[][] {
  const r = a.length;
  const c = a[0].length;
  const aat = a.map((ri) => a.map((rj) => ri.reduce((s, v, k) => s + v * rj[k], 0)));
  // Gauss–Jordan inverse of the r×r Gram matrix.
  const m = aat.map((row, i) => [...row, ...Array.from({ length: r }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < r; col++) {
    let pivot = col;
    for (let i = col + 1; i < r; i++) if (Math.abs(m[i][col]) > Math.abs(m[pivot][col])) pivot = i;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    const d = m[col][col];
    for (let j = 0; j < 2 * r; j++) m[col][j] /= d;
    for (let i = 0; i < r; i++) {
      if (i === col) continue;
      const f = m[i][col];
      for (let j = 0; j < 2 * r; j++) m[i][j] -= f * m[col][j];
    }
  }
  const inv = m.map((row) => row.slice(r));
  return Array.from({ length: c }, (_, k) => Array.from({ length: r }, (_, j) => a.reduce((s, row, i) => s + row[k] * inv[i][j], 0)));
}

export function buildVaeEncoder(spec: { float: 'float32' | 'float16'; output: 'latent_sample' | 'latent_parameters'; latents?: LatentSpace }): EncodedModel {
  const space = spec.latents ?? SD_LATENTS;
  const C = space.channels;
  const g = new GraphBuilder({ name: 'vae_encoder', floatStorage: spec.float });
  const x = g.floatInput('sample', spec.float, ['batch_size', 3, 'height', 'width']);
  const outC = spec.output === 'latent_parameters' ? 2 * C : C;

  const clipped = g.op('Clip', [x, g.scalar('lo', -ENCODER_CLIP), g.scalar('hi', ENCODER_CLIP)]);
  const one = g.scalar('one', 1);
  const ratio = g.op('Div', [g.op('Add', [one, clipped]), g.op('Sub', [one, clipped])]);
  const atanh = g.op('Mul', [g.scalar('half', 0.5), g.op('Log', [ratio])]);
  // SpaceToDepth puts sub-pixel p, colour ch at channel p·3 + ch (DCR order).
  const patches = g.op('SpaceToDepth', [atanh], { blocksize: SCALE });

  const inverse = pseudoInverse(colourMix(space)); // [latent channel][rgb]
  const offset = colourOffset(space);
  const weights = new Float32Array(outC * 3 * SUBPIXELS);
  const bias = new Float32Array(outC);
  for (let k = 0; k < C; k++) {
    for (let p = 0; p < SUBPIXELS; p++) for (let ch = 0; ch < 3; ch++) weights[k * 3 * SUBPIXELS + p * 3 + ch] = inverse[k][ch] / SUBPIXELS;
    // Undo the decoder's colour offset (zero for SD, so its weights stay as they were).
    for (let ch = 0; ch < 3; ch++) if (offset[ch] !== 0) bias[k] -= inverse[k][ch] * offset[ch];
  }
  if (outC === 2 * C) bias.fill(LOGVAR, C);
  const latents = g.op('Conv', [patches, g.floats('encode_w', weights, [outC, 3 * SUBPIXELS, 1, 1]), g.floats('encode_b', bias, [outC])], {
    kernel_shape: [1, 1],
  });
  g.floatOutput(latents, spec.output, spec.float, ['batch_size', outC, 'height_latent', 'width_latent']);
  return g.encode();
}

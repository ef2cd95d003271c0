// The tiny SD3 transformer: an MMDiT in miniature with the signature of optimum's export
// (SD3TransformerOnnxConfig): hidden_states [batch, 16, h, w], timestep [step] (float, σ·1000),
// encoder_hidden_states [batch, sequence, joint_attention_dim], pooled_projections
// [batch, pooled_projection_dim] → out_hidden_states [batch, 16, h, w].
//
// Inside, as the real model: a 2×2 patch embedding, the timestep's sinusoid plus the pooled
// text through an MLP (CombinedTimestepTextProjEmbeddings), the text through a context
// embedder, one joint-attention block over [text tokens, image tokens] modulated by that
// embedding (adaLN), and a projection back to 2×2×16 per patch. As in the tiny UNet, the
// network predicts a clean latent μ and the graph turns it into the velocity of the exact
// flow-matching denoiser for a Gaussian prior around μ (x_t = (1 − σ) x₀ + σ ε, v = ε − x₀ =
// (x_t − x̂₀) / σ) in two frequency bands, so every run converges to a smooth, prompt- and
// seed-dependent picture.
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

export const SD3_LATENT_CHANNELS = 16;
export const SD3_PATCH = 2;
/** Inner width: one 2×2 patch of 16 channels, so patches and tokens reshape into each other. */
const INNER = SD3_LATENT_CHANNELS * SD3_PATCH * SD3_PATCH;
const PRIOR_STD = { low: 10, high: 0.2 };
const BAND_SIGMA = 2;
const BAND_RADIUS = 4;
const WAVES = 8;
/** Smallest σ the velocity divides by: the last flow-match step has σ > 0, but keep it finite. */
const MIN_SIGMA = 1e-3;
const GAIN = { patch: 0.3, time: 0.5, pooled: 0.5, waves: 1.2, query: 3, text: 1.5, out: 0.6 };

export interface Sd3TransformerSpec {
  /** encoder_hidden_states width (joint_attention_dim). */
  jointDim: number;
  /** pooled_projections width (pooled_projection_dim). */
  pooledDim: number;
  float: 'float32' | 'float16';
  seed: number;
}

function blurKernel(channels: number): Float32Array {
  const k = 2 * BAND_RADIUS + 1;
  const taps = Array.from({ length: k }, (_, i) => Math.exp(-((i - BAND_RADIUS) ** 2) / (2 * BAND_SIGMA ** 2)));
  const sum = taps.reduce((a, b) => a + b, 0);
  const out = new Float32Array(channels * k * k);
  for (let c = 0; c < channels; c++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) out[(c * k + y) * k + x] = (taps[y] * taps[x]) / (sum * sum);
  return out;
}

export function buildSd3Transformer(spec: Sd3TransformerSpec): EncodedModel {
  const { float, jointDim, pooledDim } = spec;
  const C = SD3_LATENT_CHANNELS;
  const D = INNER;
  const g = new GraphBuilder({ name: 'transformer', floatStorage: float });
  const w = new WeightStream(spec.seed, 'transformer');
  const L = new Layers(g, w);

  const x = g.floatInput('hidden_states', float, ['batch_size', C, 'height', 'width']);
  const tIn = g.floatInput('timestep', float, ['step']);
  const text = g.floatInput('encoder_hidden_states', float, ['batch_size', 'sequence_length', jointDim]);
  const pooled = g.floatInput('pooled_projections', float, ['batch_size', pooledDim]);

  // σ = t / 1000 as [n, 1, 1, 1] (n = batch, or 1 for a shared timestep).
  const t = g.op('Reshape', [tIn, g.int64s('flat', [-1])]);
  const sigma = g.op('Reshape', [
    g.op('Clip', [g.op('Div', [t, g.scalar('train_steps', 1000)]), g.scalar('sigma_min', MIN_SIGMA), g.scalar('sigma_max', 1)]),
    g.int64s('per_item', [-1, 1, 1, 1]),
  ]);

  // Conditioning: sinusoid(t) (flip_sin_to_cos, as SD3's Timesteps) + the pooled text, each through an MLP.
  const half = D / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const angles = g.op('Mul', [g.op('Unsqueeze', [t, g.int64s('axis1', [1])]), g.floats('freqs', freqs, [1, half])]);
  const sinusoid = g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: 1 });
  const temb = L.linear(L.silu(L.linear(sinusoid, D, D, { name: 'time_1', bias: true })), D, D, { name: 'time_2', gain: GAIN.time });
  const pemb = L.linear(L.silu(L.linear(pooled, pooledDim, D, { name: 'text_1', bias: true })), D, D, { name: 'text_2', gain: GAIN.pooled });
  const cond = L.silu(g.op('Add', [temb, pemb])); // [n or B, D]

  // Patch embedding (2×2, stride 2) plus smooth positional waves over relative coordinates.
  const patches = L.conv(x, C, D, SD3_PATCH, { name: 'patch_embed', gain: GAIN.patch, stride: SD3_PATCH, pads: [0, 0, 0, 0] });
  const shape = g.op('Shape', [patches]);
  const waves = L.positionWaves(shape, WAVES);
  const embedded = g.op('Add', [patches, L.conv(waves, WAVES, D, 1, { name: 'wave_proj', gain: GAIN.waves })]);
  const image = g.op('Transpose', [g.op('Reshape', [embedded, g.int64s('flatten_hw', [0, D, -1])])], { perm: [0, 2, 1] }); // [B, N, D]

  // Joint attention over [text, image] with adaLN modulation from the conditioning.
  const context = L.linear(text, jointDim, D, { name: 'context_embedder', bias: true }); // [B, S, D]
  const modulation = (name: string) => g.op('Unsqueeze', [L.linear(cond, D, D, { name, gain: 0.1, bias: true }), g.int64s('axis1', [1])]);
  const modulate = (v: string, name: string) =>
    g.op('Add', [
      g.op('Mul', [L.layerNorm(v, D, `${name}_norm`), g.op('Add', [g.scalar('one', 1), modulation(`${name}_scale`)])]),
      modulation(`${name}_shift`),
    ]);
  const joint = g.op('Concat', [modulate(context, 'context'), modulate(image, 'image')], { axis: 1 });
  const q = L.linear(joint, D, D, { name: 'to_q', gain: GAIN.query });
  const k = L.linear(joint, D, D, { name: 'to_k' });
  const v = L.linear(joint, D, D, { name: 'to_v' });
  const attended = L.linear(L.attention(q, k, v, D), D, D, { name: 'to_out', gain: GAIN.text, bias: true });
  // The image tokens come after the text tokens.
  const textLen = g.op('Slice', [g.op('Shape', [text]), g.int64s('one_i', [1]), g.int64s('two_i', [2])]);
  const imageOut = g.op('Slice', [attended, textLen, g.int64s('to_end', [1 << 30]), g.int64s('axis1_i', [1])]);
  const tokens = g.op('Add', [image, imageOut]);

  // Final norm and projection back to patches; DepthToSpace turns each token's 64 values into its 2×2 patch of 16 channels.
  const out = L.linear(L.silu(L.layerNorm(tokens, D, 'norm_out')), D, D, { name: 'proj_out', gain: GAIN.out, bias: true });
  const outMap = g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1] }), shape]);
  const patchMu = g.op('DepthToSpace', [outMap], { blocksize: SD3_PATCH, mode: 'CRD' });

  // Exact denoiser for x₀ ~ N(μ, s²) seen as x = (1 − σ) x₀ + σ ε, band by band:
  // x̂₀ = μ + (1 − σ) s² / ((1 − σ)² s² + σ²) · (x − (1 − σ) μ).
  const a = g.op('Sub', [g.scalar('one', 1), sigma]);
  const gain = (s: number, name: string) => {
    const s2 = g.scalar(`${name}_s2`, s * s);
    const num = g.op('Mul', [a, s2]);
    return g.op('Div', [num, g.op('Add', [g.op('Mul', [g.op('Mul', [a, a]), s2]), g.op('Mul', [sigma, sigma])])]);
  };
  const r = BAND_RADIUS;
  const size = 2 * r + 1;
  const kernel = g.floats('blur', blurKernel(C), [C, 1, size, size]);
  const blur = (val: string) => g.op('Conv', [val, kernel], { kernel_shape: [size, size], group: C, pads: [r, r, r, r] });
  // Normalised blur (blur / blurred ones): borders neither darkened nor streaked.
  const ones = g.op('Expand', [g.scalar('one', 1), g.op('Shape', [x])]);
  const smooth = (val: string) => g.op('Div', [blur(val), blur(ones)]);
  // μ low-passed: the 2×2 patches would otherwise show as a grid in the picture.
  const mu = smooth(patchMu);
  const d = g.op('Sub', [x, g.op('Mul', [a, mu])]);
  const low = smooth(d);
  const high = g.op('Sub', [d, low]);
  const x0 = g.op('Add', [mu, g.op('Add', [g.op('Mul', [gain(PRIOR_STD.low, 'low'), low]), g.op('Mul', [gain(PRIOR_STD.high, 'high'), high])])]);
  const velocity = g.op('Div', [g.op('Sub', [x, x0]), sigma]);
  g.floatOutput(velocity, 'out_hidden_states', float, ['batch_size', C, 'height', 'width']);
  return g.encode();
}

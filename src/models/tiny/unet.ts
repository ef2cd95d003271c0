// The tiny UNet, with the signature of real exports: sample [batch, 4, h, w] (9 channels for
// an inpainting UNet), timestep (int64 [n], float [n] or rank-0 float; n is the batch or 1),
// encoder_hidden_states [batch, sequence, hidden] → out_sample [batch, 4, h, w]. The SDXL and
// LCM layouts add text_embeds + time_ids or timestep_cond (unet-conditioning.ts).
//
// Random weights alone make a poor denoiser: samplers blow its output up into saturated noise.
// So the network predicts a clean latent μ (conv_in, a sinusoidal timestep embedding, smooth
// positional waves, cross-attention over the text, conv_out), and the graph turns μ into the
// noise (or v) prediction of the exact denoiser for a Gaussian prior around μ under SD's noise
// schedule, in two frequency bands: wide spread in the low band (the seed picks large smooth
// shapes), little in the high band (fine texture). Sampling then converges to smooth,
// prompt- and seed-dependent pictures with every scheduler, and outputs have about unit variance.
import { GraphBuilder, ONNX_DATA_TYPE, type EncodedModel } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';
import { residualContribution } from './unet-residuals.js';
import { declareConditioningInputs, textTimeEmbedding, timestepCondProjection, type TextTimeSpec } from './unet-conditioning.js';

export type TimestepInput = 'int64' | 'float' | 'float-scalar';
export type PredictionType = 'epsilon' | 'v_prediction';

export interface UnetSpec {
  channels: number;
  /** Width of encoder_hidden_states (cross_attention_dim). */
  hidden: number;
  float: 'float32' | 'float16';
  timestep: TimestepInput;
  predictionType: PredictionType;
  seed: number;
  /** Side file for the weights, as big exports ship (model.onnx_data or weights.pb). */
  externalData?: string;
  /** SDXL: text_embeds and time_ids inputs feeding an added embedding. */
  textTime?: TextTimeSpec;
  /** LCM: a timestep_cond input of this width (unet config time_cond_proj_dim). */
  timeCondDim?: number;
  /**
   * An inpainting UNet: sample has 9 channels, [latents, mask, masked-image latents] as diffusers
   * concatenates them; μ is pulled to the masked-image latents where the mask keeps (mask 0).
   */
  inpainting?: boolean;
  /** ControlNet-ready: down_block_0 … 3 and mid_block_additional_residual inputs (controlnet.ts). */
  controlnetResiduals?: boolean;
}

const TRAIN_STEPS = 1000;
/** Spread of the prior around μ (latent units) in the low and high bands: the seed's share. */
const PRIOR_STD = { low: 3.5, high: 0.2 };
/** The band split: a Gaussian blur of this many latent pixels (one latent pixel = 8 image pixels). */
const BAND_SIGMA = 2;
const BAND_RADIUS = 4;
/** Down-sampling of the cross-attention block. */
const ATTN_STRIDE = 4;
/** Number of positional waves: the picture's large-scale layout. */
const WAVES = 8;
/** Gains (see the header): μ ≈ unit scale, text a moderate share so guidance 7.5 stays sane. */
const GAIN = { sample: 0.3, time: 0.5, waves: 1.2, query: 3, text: 1.5, out: 0.6 };

/** SD 1.x's scaled_linear schedule (beta 0.00085 … 0.012): ᾱ for each training timestep. */
function alphasCumprod(): Float64Array {
  const lo = Math.sqrt(0.00085);
  const hi = Math.sqrt(0.012);
  const out = new Float64Array(TRAIN_STEPS);
  let prod = 1;
  for (let i = 0; i < TRAIN_STEPS; i++) {
    const b = lo + ((hi - lo) * i) / (TRAIN_STEPS - 1);
    prod *= 1 - b * b;
    out[i] = prod;
  }
  return out;
}

const COLUMNS = 4;

/** Per-timestep coefficients [√ᾱ, low-band gain, high-band gain, 1/σ], row-major [1000, 4]. */
function denoiserTable(): Float32Array {
  const ac = alphasCumprod();
  const table = new Float32Array(TRAIN_STEPS * COLUMNS);
  // Posterior-mean gain of x0 ~ N(μ, s²) seen as x = √ᾱ x0 + σ ε.
  const gain = (a: number, sigma2: number, s: number) => (a * s * s) / (a * a * s * s + sigma2);
  for (let t = 0; t < TRAIN_STEPS; t++) {
    const a = Math.sqrt(ac[t]);
    const sigma2 = 1 - ac[t];
    table.set([a, gain(a, sigma2, PRIOR_STD.low), gain(a, sigma2, PRIOR_STD.high), 1 / Math.sqrt(sigma2)], t * COLUMNS);
  }
  return table;
}

/** Per-channel Gaussian blur kernel for the 4 latent channels: [4, 1, k, k]. */
function blurKernel(): Float32Array {
  const k = 2 * BAND_RADIUS + 1;
  const taps = Array.from({ length: k }, (_, i) => Math.exp(-((i - BAND_RADIUS) ** 2) / (2 * BAND_SIGMA ** 2)));
  const sum = taps.reduce((a, b) => a + b, 0);
  const out = new Float32Array(4 * k * k);
  for (let c = 0; c < 4; c++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) out[(c * k + y) * k + x] = (taps[y] * taps[x]) / (sum * sum);
  return out;
}

export function buildUnet(spec: UnetSpec): EncodedModel {
  const { channels: c, hidden, float } = spec;
  if (c % 2 !== 0) throw new Error(`UNet channels must be even, got ${c}`);
  const g = new GraphBuilder({
    name: 'unet',
    floatStorage: float,
    externalData: spec.externalData ? { location: spec.externalData } : undefined,
  });
  const w = new WeightStream(spec.seed, 'unet');
  const L = new Layers(g, w);

  const inChannels = spec.inpainting ? 9 : 4;
  const sample = g.floatInput('sample', float, ['batch_size', inChannels, 'height', 'width']);
  const channels = (from: number, to: number) =>
    g.op('Slice', [sample, g.int64s('slice_start', [from]), g.int64s('slice_end', [to]), g.int64s('slice_axis', [1])]);
  const x = spec.inpainting ? channels(0, 4) : sample;
  const tDims = spec.timestep === 'float-scalar' ? [] : ['steps'];
  const tIn = g.input('timestep', spec.timestep === 'int64' ? 'int64' : float, tDims);
  const text = g.floatInput('encoder_hidden_states', float, ['batch_size', 'sequence_length', hidden]);
  const conditioning = declareConditioningInputs(g, float, spec);

  // Timestep as float [n] (n = batch, or 1 for a shared or rank-0 timestep).
  const t = g.op('Reshape', [L.toFloat(tIn), g.int64s('flat', [-1])]);

  // Sinusoidal embedding as diffusers' get_timestep_embedding (cos first), then the MLP.
  const half = c / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const angles = g.op('Mul', [g.op('Unsqueeze', [t, g.int64s('axis1', [1])]), g.floats('freqs', freqs, [1, half])]);
  let sinusoid = g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: 1 });
  if (spec.timeCondDim !== undefined) sinusoid = g.op('Add', [sinusoid, timestepCondProjection(g, conditioning, spec.timeCondDim, c, spec.seed)]);
  let temb = L.linear(L.silu(L.linear(sinusoid, c, c, { name: 'time_1', bias: true })), c, c, { name: 'time_2', gain: GAIN.time });
  if (spec.textTime) temb = g.op('Add', [temb, textTimeEmbedding(g, conditioning, spec.textTime, c, spec.seed)]);

  // Smooth positional waves over relative coordinates, so the layout is the same at any size.
  const waves = L.positionWaves(g.op('Shape', [x]), WAVES);

  let h = L.conv(sample, inChannels, c, 3, { name: 'conv_in', gain: GAIN.sample, padding: 'edge' });
  h = g.op('Add', [h, L.conv(waves, WAVES, c, 1, { name: 'wave_proj', gain: GAIN.waves })]);
  h = g.op('Add', [h, g.op('Unsqueeze', [temb, g.int64s('hw_axes', [2, 3])])]);
  // --- ControlNet: the residuals join the features here (zeros add nothing) ---
  if (spec.controlnetResiduals) h = g.op('Add', [h, residualContribution(g, float, c, spec.seed, h)]);
  h = L.silu(h);

  // Cross-attention at 1/4 resolution, as real UNets attend in their down-sampled blocks: the
  // image positions [B, hw, C] query the text states; the result is upsampled and added back.
  const down = g.op('AveragePool', [h], { kernel_shape: [ATTN_STRIDE, ATTN_STRIDE], strides: [ATTN_STRIDE, ATTN_STRIDE], ceil_mode: 1 });
  const tokens = g.op('Transpose', [g.op('Reshape', [down, g.int64s('flatten_hw', [0, c, -1])])], { perm: [0, 2, 1] });
  const q = L.linear(L.layerNorm(tokens, c, 'attn_norm'), c, c, { name: 'to_q', gain: GAIN.query });
  const k = L.linear(text, hidden, c, { name: 'to_k' });
  const v = L.linear(text, hidden, c, { name: 'to_v' });
  const attended = L.linear(L.attention(q, k, v, c), c, c, { name: 'to_out', gain: GAIN.text, bias: true });
  const attendedMap = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1] }), g.op('Shape', [down])]);
  const up = g.op('Resize', [attendedMap, '', '', g.op('Shape', [h])], { mode: 'linear' });
  h = g.op('Add', [h, up]);

  let mu = L.conv(L.silu(h), c, 4, 3, { name: 'conv_out', gain: GAIN.out, padding: 'edge' });
  if (spec.inpainting) {
    // μ + (1 − mask)(masked latents − μ): the kept region's prior is the input's latents.
    const keep = g.op('Sub', [g.scalar('one', 1), channels(4, 5)]);
    mu = g.op('Add', [mu, g.op('Mul', [keep, g.op('Sub', [channels(5, 9), mu])])]);
  }

  // Schedule coefficients at t, linearly interpolated (Euler-type samplers pass fractional t).
  const tc = g.op('Clip', [t, g.scalar('t_min', 0), g.scalar('t_max', TRAIN_STEPS - 1)]);
  const t0 = g.op('Floor', [tc]);
  const t1 = g.op('Min', [g.op('Add', [t0, g.scalar('one', 1)]), g.scalar('t_last', TRAIN_STEPS - 1)]);
  const frac = g.op('Unsqueeze', [g.op('Sub', [tc, t0]), g.int64s('axis1', [1])]);
  const table = g.floats('schedule', denoiserTable(), [TRAIN_STEPS, COLUMNS]);
  const row = (tf: string) => g.op('Gather', [table, g.op('Cast', [tf], { to: ONNX_DATA_TYPE.int64 })], { axis: 0 });
  const r0 = row(t0);
  const coef = g.op('Add', [r0, g.op('Mul', [frac, g.op('Sub', [row(t1), r0])])]);
  const column = (i: number) => g.op('Reshape', [g.op('Gather', [coef, g.int64s(`col${i}`, [i], [])], { axis: 1 }), g.int64s('per_item', [-1, 1, 1, 1])]);
  const [alpha, gainLow, gainHigh, invSigma] = [column(0), column(1), column(2), column(3)];

  // Posterior mean of the clean latent, band by band, then the parameterisation the scheduler expects.
  const d = g.op('Sub', [x, g.op('Mul', [alpha, mu])]);
  // Normalised convolution (blur / blurred ones) so borders are neither darkened nor streaked.
  const r = BAND_RADIUS;
  const size = 2 * r + 1;
  const kernel = g.floats('blur', blurKernel(), [4, 1, size, size]);
  const blur = (v: string) => g.op('Conv', [v, kernel], { kernel_shape: [size, size], group: 4, pads: [r, r, r, r] });
  const ones = g.op('Expand', [g.scalar('one', 1), g.op('Shape', [d])]);
  const low = g.op('Div', [blur(d), blur(ones)]);
  const high = g.op('Sub', [d, low]);
  const x0 = g.op('Add', [mu, g.op('Add', [g.op('Mul', [gainLow, low]), g.op('Mul', [gainHigh, high])])]);
  const residual =
    spec.predictionType === 'v_prediction'
      ? g.op('Sub', [g.op('Mul', [alpha, x]), x0]) // v = (√ᾱ x − x̂0) / σ
      : g.op('Sub', [x, g.op('Mul', [alpha, x0])]); // ε = (x − √ᾱ x̂0) / σ
  g.floatOutput(g.op('Mul', [residual, invSigma]), 'out_sample', float, ['batch_size', 4, 'height', 'width']);
  return g.encode();
}

// The tiny UNet's extra conditioning inputs, with the signatures optimum exports:
// - SDXL's "text_time" added embedding: text_embeds [batch, pooled] (text_encoder_2's
//   projection) and time_ids [batch, 6] (original size, crop corner, target size), each id
//   through a sinusoidal embedding, concatenated with text_embeds and sent through a small MLP
//   whose output is added to the timestep embedding (diffusers' add_time_proj + add_embedding).
// - LCM's timestep_cond [batch, time_cond_proj_dim]: the guidance-scale embedding, projected
//   without bias and added to the sinusoidal timestep embedding before the time MLP
//   (diffusers' TimestepEmbedding.cond_proj).
// Weights come from their own stream, so the base UNet's weights are the same in every layout.
import type { GraphBuilder } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

/** SDXL's six time ids: original (h, w), crop (top, left), target (h, w). */
export const TIME_IDS = 6;

export interface TextTimeSpec {
  /** Width of text_embeds (text_encoder_2's projection_dim). */
  pooled: number;
  /** Sinusoid width per time id (unet config addition_time_embed_dim). */
  timeEmbedDim: number;
}

export interface ConditioningInputs {
  textEmbeds?: string;
  timeIds?: string;
  timestepCond?: string;
}

/** Declares the inputs in optimum's order: text_embeds, time_ids, then timestep_cond. */
export function declareConditioningInputs(
  g: GraphBuilder,
  float: 'float32' | 'float16',
  spec: { textTime?: TextTimeSpec; timeCondDim?: number },
): ConditioningInputs {
  const inputs: ConditioningInputs = {};
  if (spec.textTime) {
    inputs.textEmbeds = g.floatInput('text_embeds', float, ['batch_size', spec.textTime.pooled]);
    inputs.timeIds = g.floatInput('time_ids', float, ['batch_size', TIME_IDS]);
  }
  if (spec.timeCondDim !== undefined) inputs.timestepCond = g.floatInput('timestep_cond', float, ['batch_size', spec.timeCondDim]);
  return inputs;
}

/** diffusers' Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0) of a [n] float value: [n, dim]. */
function sinusoid(L: Layers, values: string, dim: number, name: string): string {
  const g = L.g;
  const half = dim / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const angles = g.op('Mul', [g.op('Unsqueeze', [values, g.int64s(`${name}_axis`, [1])]), g.floats(`${name}_freqs`, freqs, [1, half])]);
  return g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: 1 });
}

/** The added embedding [batch, channels] from text_embeds and time_ids. */
export function textTimeEmbedding(g: GraphBuilder, inputs: ConditioningInputs, spec: TextTimeSpec, channels: number, seed: number): string {
  if (!inputs.textEmbeds || !inputs.timeIds) throw new Error('text_time embedding needs the text_embeds and time_ids inputs');
  if (spec.timeEmbedDim % 2 !== 0) throw new Error(`addition_time_embed_dim must be even, got ${spec.timeEmbedDim}`);
  const L = new Layers(g, new WeightStream(seed, 'unet_add_embedding'));
  // Each of the 6 ids embedded on its own, then laid out as [batch, 6 × dim].
  const flat = g.op('Reshape', [inputs.timeIds, g.int64s('time_ids_flat', [-1])]);
  const perId = sinusoid(L, flat, spec.timeEmbedDim, 'add_time');
  const timeEmb = g.op('Reshape', [perId, g.int64s('time_ids_rows', [-1, TIME_IDS * spec.timeEmbedDim])]);
  const joined = g.op('Concat', [inputs.textEmbeds, timeEmb], { axis: 1 });
  const inDim = spec.pooled + TIME_IDS * spec.timeEmbedDim;
  const hidden = L.silu(L.linear(joined, inDim, channels, { name: 'add_linear_1', bias: true }));
  return L.linear(hidden, channels, channels, { name: 'add_linear_2', gain: 0.7 });
}

/** cond_proj(timestep_cond): [batch, width of the timestep sinusoid]. */
export function timestepCondProjection(g: GraphBuilder, inputs: ConditioningInputs, dim: number, width: number, seed: number): string {
  if (!inputs.timestepCond) throw new Error('cond_proj needs the timestep_cond input');
  const L = new Layers(g, new WeightStream(seed, 'unet_cond_proj'));
  return L.linear(inputs.timestepCond, dim, width, { name: 'cond_proj', gain: 1.5 });
}

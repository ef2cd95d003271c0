// The UNet inputs beyond sample, timestep and encoder_hidden_states, driven by what the graph
// declares (optimum's names):
// - SDXL's added conditions: text_embeds (the pooled prompt) and time_ids = [original height,
//   original width, crop top, crop left, target height, target width]; diffusers defaults
//   original = target = the requested size and the crop to (0, 0).
// - LCM's timestep_cond: the guidance-scale embedding of w = guidance − 1. Such a UNet was
//   distilled with guidance built in, so diffusers runs no classifier-free guidance batch.
import * as ort from 'onnxruntime-node';
import { ModelError } from './errors.js';
import type { PromptEmbedding } from './prompt-encoding.js';
import type { LoadedSession } from './sessions.js';
import { floatTensor, type FloatType } from './tensors.js';

type Meta = ort.InferenceSession.TensorValueMetadata;

export interface UnetConditioning {
  textEmbeds?: Meta;
  timeIds?: Meta;
  timestepCond?: { meta: Meta; dim: number };
}

export const TIME_IDS = 6;

function floatMeta(meta: Meta): FloatType {
  if (meta.type === 'float32' || meta.type === 'float16') return meta.type;
  throw new ModelError(`unet input "${meta.name}" has type ${meta.type}; expected float32 or float16. Re-export the model.`);
}

/**
 * Reads the UNet's extra inputs and checks them against the rest of the model, so a
 * mismatched folder fails at load time: an SDXL UNet needs the pooled prompt of
 * text_encoder_2, and an LCM UNet needs its embedding width.
 */
export function describeUnetConditioning(unet: LoadedSession, model: { name: string; pooledPrompt: boolean; timeCondProjDim?: number }): UnetConditioning {
  const textEmbeds = unet.inputs.get('text_embeds');
  const timeIds = unet.inputs.get('time_ids');
  const cond = unet.inputs.get('timestep_cond');
  if ((textEmbeds === undefined) !== (timeIds === undefined)) {
    throw new ModelError('unet takes only one of text_embeds and time_ids; SDXL UNets take both. Re-export the model with optimum-cli export onnx.');
  }
  if (textEmbeds && !model.pooledPrompt) {
    throw new ModelError(
      `Model ${model.name}'s unet takes text_embeds and time_ids (an SDXL UNet) but the folder has no text_encoder_2. Re-download the full SDXL export.`,
    );
  }
  if (!textEmbeds && model.pooledPrompt) {
    throw new ModelError(`Model ${model.name} has two text encoders (SDXL) but its unet takes no text_embeds or time_ids. Re-export the model.`);
  }
  if (textEmbeds) floatMeta(textEmbeds);
  if (timeIds) floatMeta(timeIds);
  let timestepCond: UnetConditioning['timestepCond'];
  if (cond) {
    floatMeta(cond);
    const declared = cond.shape[1];
    const dim = typeof declared === 'number' ? declared : model.timeCondProjDim;
    if (dim === undefined) {
      throw new ModelError('unet takes timestep_cond (an LCM UNet) but neither the graph nor unet/config.json (time_cond_proj_dim) gives its width.');
    }
    timestepCond = { meta: cond, dim };
  }
  return { textEmbeds, timeIds, timestepCond };
}

/**
 * Whether a step runs the unconditional half too: guidance above 1, except for UNets that
 * take the guidance scale as timestep_cond (diffusers' do_classifier_free_guidance).
 */
export function classifierFreeGuidance(guidanceScale: number, c: UnetConditioning): boolean {
  return guidanceScale > 1 && c.timestepCond === undefined;
}

/**
 * diffusers' get_guidance_scale_embedding(w × 1000, dim): [sin(w·1000·f_i) …, cos(w·1000·f_i) …]
 * with f_i = exp(−i · ln(10000) / (dim/2 − 1)), zero-padded to an odd dim. Computed in float32
 * step by step, as torch does, so the values match a diffusers run.
 */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  const f = Math.fround;
  const half = Math.floor(dim / 2);
  const out = new Float32Array(dim);
  const scaled = f(f(w) * 1000);
  const step = f(f(Math.log(10000)) / (half - 1));
  for (let i = 0; i < half; i++) {
    const angle = f(scaled * f(Math.exp(f(i * -step))));
    out[i] = Math.sin(angle);
    out[half + i] = Math.cos(angle);
  }
  return out;
}

/** SDXL's add_time_ids for the default original size = target size, crop (0, 0). */
export function addTimeIds(width: number, height: number): Float32Array {
  return Float32Array.of(height, width, 0, 0, height, width);
}

/** `rows` copies of each part, in order: [a × rows, b × rows, …] (the pipeline's batch layout). */
function repeatRows(parts: Float32Array[], rows: number): Float32Array {
  const size = parts[0].length;
  const out = new Float32Array(parts.length * rows * size);
  let offset = 0;
  for (const p of parts) for (let i = 0; i < rows; i++, offset += size) out.set(p, offset);
  return out;
}

export interface ExtraFeedsArgs {
  /** Images per request; the batch is 2 × count with guidance, count without. */
  count: number;
  guided: boolean;
  width: number;
  height: number;
  guidanceScale: number;
  cond: PromptEmbedding;
  uncond?: PromptEmbedding;
}

/** The extra UNet feeds, the same for every step, batched like sample: [uncond × count, cond × count]. */
export function unetExtraFeeds(c: UnetConditioning, a: ExtraFeedsArgs): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const halves = a.guided ? 2 : 1;
  const batch = halves * a.count;
  if (c.textEmbeds && c.timeIds) {
    const pooled = a.guided ? [a.uncond?.pooled, a.cond.pooled] : [a.cond.pooled];
    if (pooled.some((p) => p === undefined)) throw new ModelError('unet takes text_embeds but the prompt encoding gave no pooled embedding.');
    const rows = pooled as Float32Array[];
    const width = rows[0].length;
    const declared = c.textEmbeds.shape[1];
    if (typeof declared === 'number' && declared !== width) {
      throw new ModelError(`unet takes text_embeds of width ${declared} but text_encoder_2 gives ${width}. The parts come from different models.`);
    }
    feeds[c.textEmbeds.name] = floatTensor(floatMeta(c.textEmbeds), repeatRows(rows, a.count), [batch, width]);
    // diffusers' negative_add_time_ids default to the positive ones.
    feeds[c.timeIds.name] = floatTensor(floatMeta(c.timeIds), repeatRows([addTimeIds(a.width, a.height)], batch), [batch, TIME_IDS]);
  }
  if (c.timestepCond) {
    const embedding = guidanceScaleEmbedding(a.guidanceScale - 1, c.timestepCond.dim);
    feeds[c.timestepCond.meta.name] = floatTensor(floatMeta(c.timestepCond.meta), repeatRows([embedding], batch), [batch, c.timestepCond.dim]);
  }
  return feeds;
}

/**
 * A graph's timestep input as it declares it: int64 or float, [batch], [1] or rank 0 (the UNet's,
 * and the ControlNet's, which follows the same export conventions).
 */
export function timestepTensor(meta: Meta, part: string, t: number, batch: number): ort.Tensor {
  const rank0 = meta.shape.length === 0;
  const n = rank0 ? 1 : meta.shape[0] === 1 ? 1 : batch;
  const dims = rank0 ? [] : [n];
  switch (meta.type) {
    case 'int64':
      // diffusers' ONNX pipeline casts fractional (Euler) timesteps with numpy: truncation.
      return new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.trunc(t))), dims);
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(n).fill(Math.trunc(t)), dims);
    case 'float32':
    case 'float16':
      return floatTensor(meta.type, new Float32Array(n).fill(t), dims);
    default:
      throw new ModelError(`${part} timestep has unsupported type ${meta.type}. Re-export the model.`);
  }
}

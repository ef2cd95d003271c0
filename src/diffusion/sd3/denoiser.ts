// SD3's MMDiT transformer as the pipeline's denoiser, adapted to the names each published
// export gives it (models/README.md, "Stable Diffusion 3.x"):
// - optimum (SD3TransformerOnnxConfig): hidden_states, timestep, encoder_hidden_states,
//   pooled_projections → out_hidden_states;
// - Microsoft Olive's SD3 io_config: the same inputs → out_sample;
// - exports that kept the UNet's names: sample instead of hidden_states, → sample.
// Also the request rules of flow-matching models: flow_match_euler only (and only for them),
// sides a multiple of 16 (VAE 8 × patch 2).
import type * as ort from 'onnxruntime-node';
import { InputError, ModelError } from '../errors.js';
import { isSd3Family } from '../families.js';
import type { ModelInfo } from '../model-inspect.js';
import { createSession, firstLine, requireInput, requireOutput, type Device, type LoadedSession } from '../sessions.js';
import type { T5Tokenizer } from '../t5/tokenizer.js';
import { floatTensor, type FloatType } from '../tensors.js';
import type { SchedulerName } from '../types.js';

type Meta = ort.InferenceSession.TensorValueMetadata;

export const SD3_LATENT_CHANNELS = 16;
/** VAE downsampling (8) × the transformer's patch size (2): diffusers' SD3 size rule. */
export const SD3_SIZE_MULTIPLE = 16;
export const FLOW_MATCH_SCHEDULER: SchedulerName = 'flow_match_euler';

export interface Sd3Transformer {
  /** The latent input: hidden_states (optimum, Olive) or sample. */
  sample: Meta;
  pooled: Meta;
  /** out_hidden_states (optimum), out_sample (Olive) or sample. */
  output: string;
  /** encoder_hidden_states' width: T5's (4096 in the real models). */
  jointDim: number;
  /** The pooled_projections feed, [uncond × count, cond × count] like the latents. */
  pooledFeeds(rows: (Float32Array | undefined)[], count: number): Record<string, ort.Tensor>;
}

function floatMeta(meta: Meta): FloatType {
  if (meta.type === 'float32' || meta.type === 'float16') return meta.type;
  throw new ModelError(`transformer input "${meta.name}" has type ${meta.type}; expected float32 or float16. Re-export the model.`);
}

/**
 * Reads the transformer's signature and checks it against the rest of the folder, so a
 * mismatched export fails at load time naming the part.
 */
export function describeSd3Transformer(transformer: LoadedSession, model: Pick<ModelInfo, 'name' | 'jointAttentionDim'>, t5?: LoadedSession): Sd3Transformer {
  const sample = requireInput(transformer, 'transformer', ['hidden_states', 'sample']);
  requireInput(transformer, 'transformer', ['timestep']);
  const hidden = requireInput(transformer, 'transformer', ['encoder_hidden_states']);
  const pooled = requireInput(transformer, 'transformer', ['pooled_projections']);
  const output = requireOutput(transformer, 'transformer', ['out_hidden_states', 'out_sample', 'sample']);
  floatMeta(sample);
  floatMeta(hidden);
  floatMeta(pooled);
  const channels = sample.shape[1];
  if (typeof channels === 'number' && channels !== SD3_LATENT_CHANNELS) {
    throw new ModelError(
      `Model ${model.name}'s transformer takes ${channels}-channel latents; Stable Diffusion 3 takes ${SD3_LATENT_CHANNELS}. Use an SD3 export.`,
    );
  }
  const declared = hidden.shape[2];
  const t5Width = t5?.outputs.get('last_hidden_state')?.shape[2];
  const jointDim = typeof declared === 'number' ? declared : (model.jointAttentionDim ?? (typeof t5Width === 'number' ? t5Width : undefined));
  if (jointDim === undefined) {
    throw new ModelError(
      `Model ${model.name}: neither the transformer graph nor transformer/config.json (joint_attention_dim) gives the text width. Re-download transformer/config.json.`,
    );
  }
  const pooledWidth = pooled.shape[1];
  return {
    sample,
    pooled,
    output,
    jointDim,
    pooledFeeds(rows, count) {
      if (rows.some((r) => r === undefined)) throw new ModelError('the transformer takes pooled_projections but the prompt encoding gave none.');
      const parts = rows as Float32Array[];
      const width = parts[0].length;
      if (typeof pooledWidth === 'number' && pooledWidth !== width) {
        throw new ModelError(
          `transformer takes pooled_projections of width ${pooledWidth} but the two CLIPs give ${width}. The parts come from different models.`,
        );
      }
      const out = new Float32Array(parts.length * count * width);
      let offset = 0;
      for (const p of parts) for (let i = 0; i < count; i++, offset += width) out.set(p, offset);
      return { [pooled.name]: floatTensor(floatMeta(pooled), out, [parts.length * count, width]) };
    },
  };
}

/** SD3's tokenizer_3 and text_encoder_3, or undefined when the folder has no T5 (zeros take its place). */
export async function loadT5Encoder(
  model: Pick<ModelInfo, 'files' | 'tokenizer3Dir'>,
  device: Device,
  keep: { releaseWhenIdle?: boolean } = {},
): Promise<{ tokenizer: T5Tokenizer; session: LoadedSession } | undefined> {
  const dir = model.tokenizer3Dir;
  if (!model.files.textEncoder3 || !dir) return undefined;
  // Loaded on demand: models without T5 (and every SD 1.x/SDXL model) never parse it.
  const { loadT5Tokenizer } = await import('../t5/tokenizer.js');
  const tokenizer = await Promise.resolve()
    .then(() => loadT5Tokenizer(dir))
    .catch((err: unknown) => {
      throw new ModelError(`T5 tokenizer in ${dir} (tokenizer.json) cannot be read: ${firstLine(err)}`);
    });
  return { tokenizer, session: await createSession(model.files.textEncoder3, device, 'text_encoder_3', keep) };
}

/**
 * What an SD3 model cannot take (and what only SD3 can), refused with the reason before any
 * model work: a diffusion scheduler on a flow-matching model or the reverse, sizes off SD3's
 * 16-pixel grid.
 */
export function checkSd3Request(model: Pick<ModelInfo, 'name' | 'family'>, req: { width: number; height: number }, scheduler: SchedulerName): void {
  const sd3 = isSd3Family(model.family);
  if (!sd3) {
    if (scheduler === FLOW_MATCH_SCHEDULER) {
      throw new InputError(`flow_match_euler is for flow-matching models (Stable Diffusion 3); ${model.name} is a diffusion model: pick another scheduler.`);
    }
    return;
  }
  if (scheduler !== FLOW_MATCH_SCHEDULER) {
    throw new InputError(
      `${model.name} is a Stable Diffusion 3 model (flow matching): it samples only with flow_match_euler, not ${scheduler}. Leave the scheduler out or pick flow_match_euler.`,
    );
  }
  if (req.width % SD3_SIZE_MULTIPLE !== 0 || req.height % SD3_SIZE_MULTIPLE !== 0) {
    throw new InputError(`Stable Diffusion 3 needs width and height in multiples of ${SD3_SIZE_MULTIPLE}; got ${req.width}×${req.height}.`);
  }
}

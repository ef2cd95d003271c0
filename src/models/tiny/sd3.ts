// A tiny Stable Diffusion 3 folder in optimum's ONNX layout for StableDiffusion3Pipeline:
// text_encoder (CLIP-L) and text_encoder_2 (CLIP-G), both CLIPTextModelWithProjection with
// text_embeds, last_hidden_state and hidden_states.N outputs; text_encoder_3 (T5 encoder,
// optional: --no-t5 leaves it and tokenizer_3 out, listed as [null, null] as diffusers saves a
// pipeline loaded with text_encoder_3=None); transformer/ (SD3Transformer2DModel);
// vae_decoder/ and vae_encoder/ on 16 latent channels with scaling_factor and shift_factor;
// scheduler/ FlowMatchEulerDiscreteScheduler with shift 3.0 (SD 3 Medium's config).
//
// Widths keep SD3's shape rules at a tiny size: CLIP-L (hidden/4) and CLIP-G (hidden/2)
// concatenated are narrower than T5 (hidden = joint_attention_dim) and get zero-padded to it;
// pooled_projection_dim = CLIP-L + CLIP-G projections.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SD3_LATENT_RGB_BIAS, SD3_LATENT_RGB_FACTORS } from '../../diffusion/preview.js';
import type { EncodedModel } from '../onnx/builder.js';
import { writeClipTokenizerFiles } from '../tokenizer-files.js';
import { textEncoderConfig } from './configs.js';
import { SD3_TRANSFORMER_MODULES, textEncoderModules, withTorchExportNames } from './export-names.js';
import { buildSd3Transformer, SD3_LATENT_CHANNELS, SD3_PATCH } from './sd3-transformer.js';
import { buildT5Encoder, t5EncoderConfig, writeT5TokenizerFiles } from './t5.js';
import { buildTextEncoder } from './text-encoder.js';
import { buildVaeDecoder, buildVaeEncoder, type LatentSpace } from './vae.js';

const DIFFUSERS_VERSION = '0.31.0';
/** stabilityai/stable-diffusion-3-medium-diffusers' vae/config.json. */
export const SD3_VAE_SCALING_FACTOR = 1.5305;
export const SD3_VAE_SHIFT_FACTOR = 0.0609;

const SD3_LATENTS: LatentSpace = {
  channels: SD3_LATENT_CHANNELS,
  rgbFactors: SD3_LATENT_RGB_FACTORS,
  rgbBias: SD3_LATENT_RGB_BIAS,
  scalingFactor: SD3_VAE_SCALING_FACTOR,
  shiftFactor: SD3_VAE_SHIFT_FACTOR,
};

export interface TinySd3Options {
  /** joint_attention_dim = T5's d_model (default 32); CLIP-L is a quarter of it, CLIP-G half. */
  hidden: number;
  float: 'float32' | 'float16';
  seed: number;
  /** Write text_encoder_3 and tokenizer_3 (default true). */
  t5: boolean;
  vaeEncoderOutput: 'latent_sample' | 'latent_parameters';
  /** Name the transformer's and CLIPs' weights and nodes as torch.onnx.export does (export-names.ts), for LoRAs. */
  exportNames: boolean;
  writeModel(partDir: string, encoded: EncodedModel): Promise<void>;
}

/** The parts a tiny SD3 has; writing another layout over it removes them. */
export const SD3_ONLY_PARTS = ['transformer', 'text_encoder_3', 'tokenizer_3'] as const;

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

function modelIndex(t5: boolean): Record<string, unknown> {
  return {
    _class_name: 'StableDiffusion3Pipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    feature_extractor: [null, null],
    image_encoder: [null, null],
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_3: t5 ? ['transformers', 'T5EncoderModel'] : [null, null],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'CLIPTokenizer'],
    tokenizer_3: t5 ? ['transformers', 'T5TokenizerFast'] : [null, null],
    transformer: ['diffusers', 'SD3Transformer2DModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
}

function transformerConfig(hidden: number, pooled: number): Record<string, unknown> {
  return {
    _class_name: 'SD3Transformer2DModel',
    _diffusers_version: DIFFUSERS_VERSION,
    attention_head_dim: SD3_LATENT_CHANNELS * SD3_PATCH * SD3_PATCH,
    caption_projection_dim: SD3_LATENT_CHANNELS * SD3_PATCH * SD3_PATCH,
    dual_attention_layers: [],
    in_channels: SD3_LATENT_CHANNELS,
    joint_attention_dim: hidden,
    num_attention_heads: 1,
    num_layers: 1,
    out_channels: SD3_LATENT_CHANNELS,
    patch_size: SD3_PATCH,
    pooled_projection_dim: pooled,
    pos_embed_max_size: 96,
    qk_norm: null,
    // 32 latents = 256×256 images; the family's card size (1024) is what requests default to.
    sample_size: 32,
  };
}

function vaeConfig(): Record<string, unknown> {
  return {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: 'silu',
    block_out_channels: [3 * 64],
    force_upcast: true,
    in_channels: 3,
    latent_channels: SD3_LATENT_CHANNELS,
    out_channels: 3,
    sample_size: 1024,
    scaling_factor: SD3_VAE_SCALING_FACTOR,
    shift_factor: SD3_VAE_SHIFT_FACTOR,
    use_post_quant_conv: false,
    use_quant_conv: false,
  };
}

/** stabilityai/stable-diffusion-3-medium-diffusers' scheduler_config.json. */
function schedulerConfig(): Record<string, unknown> {
  return { _class_name: 'FlowMatchEulerDiscreteScheduler', _diffusers_version: DIFFUSERS_VERSION, num_train_timesteps: 1000, shift: 3.0 };
}

/** Writes the SD3 parts into `dir` (already checked and created by createTinyModel). */
export async function writeTinySd3(dir: string, o: TinySd3Options): Promise<void> {
  const clip = [
    { part: 'text_encoder', tokenizer: 'tokenizer', hidden: Math.max(2, o.hidden / 4), pad: '<|endoftext|>' as const },
    { part: 'text_encoder_2', tokenizer: 'tokenizer_2', hidden: Math.max(2, o.hidden / 2), pad: '!' as const },
  ];
  const parts = ['scheduler', 'transformer', 'vae_decoder', 'vae_encoder', ...clip.flatMap((c) => [c.part, c.tokenizer])];
  if (o.t5) parts.push('text_encoder_3', 'tokenizer_3');
  for (const part of parts) await mkdir(join(dir, part), { recursive: true });
  // Parts of another layout (or of a T5 variant) would make the folder something else.
  for (const stale of ['unet', 'safety_checker', 'feature_extractor', 'text_encoder_3', 'tokenizer_3']) {
    if (!parts.includes(stale)) await rm(join(dir, stale), { recursive: true, force: true });
  }

  const pooled = clip.reduce((s, c) => s + c.hidden, 0);
  await writeJson(join(dir, 'model_index.json'), modelIndex(o.t5));
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), schedulerConfig());
  await writeJson(join(dir, 'transformer', 'config.json'), transformerConfig(o.hidden, pooled));
  await writeJson(join(dir, 'vae_decoder', 'config.json'), vaeConfig());
  await writeJson(join(dir, 'vae_encoder', 'config.json'), vaeConfig());

  for (const c of clip) {
    // SD3's tokenizer_2 (CLIP-G's) pads with '!', as SDXL's.
    const { vocabSize } = await writeClipTokenizerFiles(join(dir, c.tokenizer), { padToken: c.pad });
    await writeJson(join(dir, c.part, 'config.json'), {
      ...textEncoderConfig(c.hidden, vocabSize),
      architectures: ['CLIPTextModelWithProjection'],
      num_hidden_layers: 2,
      projection_dim: c.hidden,
    });
    // Two layers, so hidden_states[-2] (what SD3 reads) is a real layer's output.
    const encoder = buildTextEncoder({
      vocabSize,
      hidden: c.hidden,
      float: o.float,
      seed: o.seed,
      layers: 2,
      hiddenStates: true,
      projection: c.hidden,
      part: c.part,
    });
    await o.writeModel(join(dir, c.part), o.exportNames ? withTorchExportNames(encoder, textEncoderModules()) : encoder);
  }
  if (o.t5) {
    const vocabSize = await writeT5TokenizerFiles(join(dir, 'tokenizer_3'));
    await writeJson(join(dir, 'text_encoder_3', 'config.json'), t5EncoderConfig(o.hidden, vocabSize));
    await o.writeModel(join(dir, 'text_encoder_3'), buildT5Encoder({ vocabSize, dModel: o.hidden, float: o.float, seed: o.seed }));
  }
  const transformer = buildSd3Transformer({ jointDim: o.hidden, pooledDim: pooled, float: o.float, seed: o.seed });
  await o.writeModel(join(dir, 'transformer'), o.exportNames ? withTorchExportNames(transformer, SD3_TRANSFORMER_MODULES) : transformer);
  await o.writeModel(join(dir, 'vae_decoder'), buildVaeDecoder({ float: o.float, seed: o.seed, latents: SD3_LATENTS }));
  await o.writeModel(join(dir, 'vae_encoder'), buildVaeEncoder({ float: o.float, output: o.vaeEncoderOutput, latents: SD3_LATENTS }));
}

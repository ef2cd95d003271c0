// Model families the tiny model can imitate, each with the folder layout, configs and graph
// signatures of its real exports:
// - 'sd': SD 1.x as diffusers' ONNX conversion script writes it (the default).
// - 'sdxl': SDXL as optimum exports it: text_encoder (CLIPTextModel) and text_encoder_2
//   (CLIPTextModelWithProjection), both with hidden_states.* outputs, tokenizer_2 padding
//   with '!', a UNet taking text_embeds and time_ids, model_index.json with
//   force_zeros_for_empty_prompt.
// - 'lcm': a latent consistency model (SimianLuo/LCM_Dreamshaper_v7): the UNet takes
//   timestep_cond (unet config time_cond_proj_dim) and the scheduler is LCMScheduler.
// - 'sdxl-lcm': both (latent-consistency/lcm-sdxl).
// - 'sd3': Stable Diffusion 3 (sd3.ts writes it; its parts share nothing with the UNet layouts).
import { modelIndex, schedulerConfig, textEncoderConfig, type SchedulerClass } from './configs.js';
import type { PredictionType } from './unet.js';
import type { TextTimeSpec } from './unet-conditioning.js';

export const TINY_LAYOUTS = ['sd', 'sdxl', 'lcm', 'sdxl-lcm', 'sd3'] as const;
export type TinyLayout = (typeof TINY_LAYOUTS)[number];

/** Folders only some layouts have; a rewrite with another layout removes them. */
export const LAYOUT_ONLY_PARTS = ['text_encoder_2', 'tokenizer_2'] as const;

/** Tiny stand-ins for SDXL's addition_time_embed_dim (256) and LCM's time_cond_proj_dim (256). */
const ADDITION_TIME_EMBED_DIM = 8;
const TIME_COND_PROJ_DIM = 16;
const DIFFUSERS_VERSION = '0.30.0';

export interface TextEncoderPlan {
  /** Model folder and weight stream: text_encoder or text_encoder_2. */
  part: 'text_encoder' | 'text_encoder_2';
  tokenizer: 'tokenizer' | 'tokenizer_2';
  hidden: number;
  layers: number;
  hiddenStates: boolean;
  /** CLIPTextModelWithProjection's projection_dim (text_encoder_2 only). */
  projection?: number;
}

export interface LayoutPlan {
  layout: TinyLayout;
  sdxl: boolean;
  defaultScheduler: SchedulerClass;
  textEncoders: TextEncoderPlan[];
  /** The UNet's cross_attention_dim: the (concatenated) text width. */
  crossAttentionDim: number;
  textTime?: TextTimeSpec;
  timeCondDim?: number;
  modelIndex(scheduler: SchedulerClass): Record<string, unknown>;
  schedulerConfig(scheduler: SchedulerClass, predictionType: PredictionType): Record<string, unknown>;
  textEncoderConfig(te: TextEncoderPlan, vocabSize: number): Record<string, unknown>;
  /** Keys added to the SD UNet config. */
  unetConfigExtras: Record<string, unknown>;
}

/** SimianLuo/LCM_Dreamshaper_v7's scheduler_config.json. */
function lcmSchedulerConfig(predictionType: PredictionType): Record<string, unknown> {
  return {
    _class_name: 'LCMScheduler',
    _diffusers_version: DIFFUSERS_VERSION,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    clip_sample: false,
    clip_sample_range: 1.0,
    dynamic_thresholding_ratio: 0.995,
    num_train_timesteps: 1000,
    original_inference_steps: 50,
    prediction_type: predictionType,
    rescale_betas_zero_snr: false,
    sample_max_value: 1.0,
    set_alpha_to_one: true,
    steps_offset: 1,
    thresholding: false,
    timestep_scaling: 10.0,
    timestep_spacing: 'leading',
    trained_betas: null,
  };
}

/** stable-diffusion-xl-base-1.0's scheduler config (SD 1.5's plus a few keys). */
function sdxlSchedulerConfig(scheduler: SchedulerClass, predictionType: PredictionType): Record<string, unknown> {
  return { ...schedulerConfig(scheduler, predictionType), interpolation_type: 'linear', sample_max_value: 1.0, use_karras_sigmas: false };
}

/** What optimum saves for an SDXL export: the diffusers pipeline's own model_index.json. */
function sdxlModelIndex(scheduler: SchedulerClass): Record<string, unknown> {
  return {
    _class_name: 'StableDiffusionXLPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    feature_extractor: [null, null],
    force_zeros_for_empty_prompt: true,
    image_encoder: [null, null],
    scheduler: ['diffusers', scheduler],
    text_encoder: ['transformers', 'CLIPTextModel'],
    text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
}

/** What optimum saves for an LCM export (SimianLuo/LCM_Dreamshaper_v7's index, no safety checker). */
function lcmModelIndex(scheduler: SchedulerClass): Record<string, unknown> {
  return {
    _class_name: 'LatentConsistencyModelPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    feature_extractor: [null, null],
    image_encoder: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', scheduler],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
}

/** The plan for a layout, with text width `hidden` for text_encoder (text_encoder_2 is twice as wide). */
export function layoutPlan(layout: Exclude<TinyLayout, 'sd3'>, hidden: number): LayoutPlan {
  const sdxl = layout === 'sdxl' || layout === 'sdxl-lcm';
  const lcm = layout === 'lcm' || layout === 'sdxl-lcm';
  const textEncoders: TextEncoderPlan[] = sdxl
    ? [
        // Two layers each, so the penultimate hidden state SDXL reads is a real layer's output.
        { part: 'text_encoder', tokenizer: 'tokenizer', hidden, layers: 2, hiddenStates: true },
        { part: 'text_encoder_2', tokenizer: 'tokenizer_2', hidden: 2 * hidden, layers: 2, hiddenStates: true, projection: 2 * hidden },
      ]
    : [{ part: 'text_encoder', tokenizer: 'tokenizer', hidden, layers: 1, hiddenStates: false }];
  const crossAttentionDim = textEncoders.reduce((sum, te) => sum + te.hidden, 0);
  const textTime = sdxl ? { pooled: 2 * hidden, timeEmbedDim: ADDITION_TIME_EMBED_DIM } : undefined;
  const timeCondDim = lcm ? TIME_COND_PROJ_DIM : undefined;
  const unetConfigExtras: Record<string, unknown> = {};
  if (textTime) {
    Object.assign(unetConfigExtras, {
      addition_embed_type: 'text_time',
      addition_time_embed_dim: textTime.timeEmbedDim,
      projection_class_embeddings_input_dim: textTime.pooled + 6 * textTime.timeEmbedDim,
    });
  }
  if (timeCondDim !== undefined) unetConfigExtras.time_cond_proj_dim = timeCondDim;

  return {
    layout,
    sdxl,
    defaultScheduler: lcm ? 'LCMScheduler' : sdxl ? 'EulerDiscreteScheduler' : 'PNDMScheduler',
    textEncoders,
    crossAttentionDim,
    textTime,
    timeCondDim,
    modelIndex: (scheduler) => (sdxl ? sdxlModelIndex(scheduler) : lcm ? lcmModelIndex(scheduler) : modelIndex(scheduler)),
    // Another class than the layout's own keeps the base config with the class swapped.
    schedulerConfig: (scheduler, predictionType) =>
      lcm && scheduler === 'LCMScheduler'
        ? lcmSchedulerConfig(predictionType)
        : sdxl
          ? sdxlSchedulerConfig(scheduler, predictionType)
          : schedulerConfig(scheduler, predictionType),
    textEncoderConfig: (te, vocabSize) => {
      const config = { ...textEncoderConfig(te.hidden, vocabSize), num_hidden_layers: te.layers };
      if (te.projection === undefined) return config;
      return { ...config, architectures: ['CLIPTextModelWithProjection'], projection_dim: te.projection };
    },
    unetConfigExtras,
  };
}

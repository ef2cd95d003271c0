// The JSON files of a diffusers ONNX model folder, with the keys and values real exports carry
// (SD 1.5's scheduler, CLIPTextModel / UNet2DConditionModel / AutoencoderKL configs cut down
// to the tiny model's sizes).
import { MAX_POSITIONS } from './text-encoder.js';
import { VAE_SCALING_FACTOR } from './vae.js';
import type { PredictionType } from './unet.js';

const DIFFUSERS_VERSION = '0.30.0';

export const SCHEDULER_CLASSES = [
  'PNDMScheduler',
  'DDIMScheduler',
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'DPMSolverMultistepScheduler',
  'LCMScheduler',
] as const;
export type SchedulerClass = (typeof SCHEDULER_CLASSES)[number];

/** What diffusers' convert_stable_diffusion_checkpoint_to_onnx.py saves. */
export function modelIndex(scheduler: SchedulerClass): Record<string, unknown> {
  return {
    _class_name: 'OnnxStableDiffusionPipeline',
    _diffusers_version: DIFFUSERS_VERSION,
    feature_extractor: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', scheduler],
    text_encoder: ['diffusers', 'OnnxRuntimeModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'OnnxRuntimeModel'],
    vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
    vae_encoder: ['diffusers', 'OnnxRuntimeModel'],
  };
}

/** runwayml/stable-diffusion-v1-5's scheduler_config.json, with the class and prediction type swappable. */
export function schedulerConfig(scheduler: SchedulerClass, predictionType: PredictionType): Record<string, unknown> {
  return {
    _class_name: scheduler,
    _diffusers_version: DIFFUSERS_VERSION,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    clip_sample: false,
    num_train_timesteps: 1000,
    prediction_type: predictionType,
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    timestep_spacing: 'leading',
    trained_betas: null,
  };
}

export function textEncoderConfig(hidden: number, vocabSize: number): Record<string, unknown> {
  return {
    architectures: ['CLIPTextModel'],
    attention_dropout: 0,
    bos_token_id: 49406,
    eos_token_id: 49407,
    hidden_act: 'quick_gelu',
    hidden_size: hidden,
    intermediate_size: 4 * hidden,
    layer_norm_eps: 1e-5,
    max_position_embeddings: MAX_POSITIONS,
    model_type: 'clip_text_model',
    num_attention_heads: 1,
    num_hidden_layers: 1,
    projection_dim: hidden,
    vocab_size: vocabSize,
  };
}

export function unetConfig(channels: number, crossAttentionDim: number): Record<string, unknown> {
  return {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: DIFFUSERS_VERSION,
    attention_head_dim: 1,
    block_out_channels: [channels],
    cross_attention_dim: crossAttentionDim,
    down_block_types: ['CrossAttnDownBlock2D'],
    in_channels: 4,
    layers_per_block: 1,
    out_channels: 4,
    // 32 latents = 256×256 images by default: seconds per picture on a small CPU.
    sample_size: 32,
    up_block_types: ['CrossAttnUpBlock2D'],
  };
}

/** optimum copies the AutoencoderKL config into vae_encoder/ and vae_decoder/. */
export function vaeConfig(): Record<string, unknown> {
  return {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: 'silu',
    block_out_channels: [3 * 64],
    in_channels: 3,
    latent_channels: 4,
    out_channels: 3,
    sample_size: 256,
    scaling_factor: VAE_SCALING_FACTOR,
  };
}

// Model families and their recommended settings. A family decides how prompts are encoded
// (SDXL: two text encoders; SD3: three, sd3/prompt-encoding.ts), which extra UNet inputs exist
// (LCM: timestep_cond) and the defaults a request falls back to when the user gives none.
import type { SchedulerName } from './types.js';

export type ModelFamily =
  | 'sd1'
  | 'sd2'
  | 'sd2-v'
  | 'sd-turbo'
  | 'sdxl'
  | 'sdxl-turbo'
  | 'lcm'
  | 'sdxl-lcm'
  | 'sd3'
  | 'sd3.5-medium'
  | 'sd3.5-large'
  | 'sd3.5-large-turbo';

export interface FamilyDefaults {
  /** Square side in pixels. */
  size: number;
  /** 'config': unet/config.json's sample_size × 8 wins when present; 'card': the card's size always. */
  sizeFrom: 'config' | 'card';
  steps: number;
  guidanceScale: number;
  /** 'model': the class in the model's own scheduler_config.json (what diffusers loads). */
  scheduler: SchedulerName | 'model';
  /** Forced onto the scheduler config: distilled few-step models need the last timestep first. */
  timestepSpacing?: 'trailing';
}

/**
 * Each family's settings, from its model card. Where a card keeps diffusers' default of 50
 * steps, 30 is used: these samplers are close to converged there, at 60% of the time.
 *
 *   sd1         runwayml/stable-diffusion-v1-5            512, guidance 7.5, the model's PNDM
 *   sd2         stabilityai/stable-diffusion-2-base       512, guidance 7.5, Euler
 *   sd2-v       stabilityai/stable-diffusion-2-1 (768-v)  768, guidance 7.5, DPM-Solver++
 *   sd-turbo    stabilityai/sd-turbo                      512, 1 step, no guidance
 *   sdxl        stabilityai/stable-diffusion-xl-base-1.0  1024, guidance 5 (SDXL's pipeline default), the model's Euler
 *   sdxl-turbo  stabilityai/sdxl-turbo                    512, 1 step, no guidance, Euler a, trailing
 *   lcm         SimianLuo/LCM_Dreamshaper_v7              4 steps, guidance 8 (fed as timestep_cond), LCM
 *   sdxl-lcm    latent-consistency/lcm-sdxl               1024, 4 steps, guidance 8, LCM
 *   sd3                stabilityai/stable-diffusion-3-medium          1024, 28 steps, guidance 7.0
 *   sd3.5-medium       stabilityai/stable-diffusion-3.5-medium        1024, 40 steps, guidance 4.5
 *   sd3.5-large        stabilityai/stable-diffusion-3.5-large         1024, 28 steps, guidance 3.5
 *   sd3.5-large-turbo  stabilityai/stable-diffusion-3.5-large-turbo   1024, 4 steps, guidance 0 (no negative batch)
 *
 * The SD3 cards' diffusers snippets give those steps and guidance; all four run the model's
 * FlowMatchEulerDiscreteScheduler (flow_match_euler), the only scheduler a flow-matching model can use.
 *
 * Turbo models were distilled at 512 whatever sample_size their configs inherited, so the
 * card's size wins for them. Both turbo families run Euler a with trailing spacing, as
 * sdxl-turbo's own scheduler config has it (1–4 steps all start from the noisiest timestep).
 */
export const FAMILY_DEFAULTS: Readonly<Record<ModelFamily, FamilyDefaults>> = {
  sd1: { size: 512, sizeFrom: 'config', steps: 30, guidanceScale: 7.5, scheduler: 'model' },
  sd2: { size: 512, sizeFrom: 'config', steps: 30, guidanceScale: 7.5, scheduler: 'euler' },
  'sd2-v': { size: 768, sizeFrom: 'config', steps: 30, guidanceScale: 7.5, scheduler: 'dpmpp_2m' },
  'sd-turbo': { size: 512, sizeFrom: 'card', steps: 1, guidanceScale: 0, scheduler: 'euler_a', timestepSpacing: 'trailing' },
  sdxl: { size: 1024, sizeFrom: 'config', steps: 30, guidanceScale: 5, scheduler: 'model' },
  'sdxl-turbo': { size: 512, sizeFrom: 'card', steps: 1, guidanceScale: 0, scheduler: 'euler_a', timestepSpacing: 'trailing' },
  lcm: { size: 512, sizeFrom: 'config', steps: 4, guidanceScale: 8, scheduler: 'lcm' },
  'sdxl-lcm': { size: 1024, sizeFrom: 'config', steps: 4, guidanceScale: 8, scheduler: 'lcm' },
  sd3: { size: 1024, sizeFrom: 'config', steps: 28, guidanceScale: 7, scheduler: 'flow_match_euler' },
  'sd3.5-medium': { size: 1024, sizeFrom: 'config', steps: 40, guidanceScale: 4.5, scheduler: 'flow_match_euler' },
  'sd3.5-large': { size: 1024, sizeFrom: 'config', steps: 28, guidanceScale: 3.5, scheduler: 'flow_match_euler' },
  'sd3.5-large-turbo': { size: 1024, sizeFrom: 'card', steps: 4, guidanceScale: 0, scheduler: 'flow_match_euler' },
};

/**
 * Few-step distilled families: their steps, guidance and scheduler are part of the model, so
 * a server's general defaults (meant for ordinary models) must not override them.
 */
export function isDistilledFamily(family: ModelFamily): boolean {
  return family === 'sd-turbo' || family === 'sdxl-turbo' || family === 'lcm' || family === 'sdxl-lcm' || family === 'sd3.5-large-turbo';
}

/** Stable Diffusion 3.x: an MMDiT transformer on 16-channel latents, sampled with flow matching. */
export function isSd3Family(f: ModelFamily): boolean {
  return f === 'sd3' || f === 'sd3.5-medium' || f === 'sd3.5-large' || f === 'sd3.5-large-turbo';
}

/** What transformer/config.json (SD3Transformer2DModel) says about an SD3 model. */
export interface Sd3TransformerSignals {
  /** 24 for SD 3 Medium and SD 3.5 Medium, 38 for SD 3.5 Large (and Turbo). */
  numLayers?: number;
  /** SD 3.5 Medium's MMDiT-X: dual attention in its first layers (non-empty dual_attention_layers). */
  dualAttention: boolean;
  /** SD 3.5's QK normalisation (qk_norm "rms_norm"); SD 3 Medium has none. */
  qkNorm: boolean;
}

const SD35_LARGE_LAYERS = 38;

/**
 * Which SD3 model a folder holds: names first (repo ids and folder names say "3.5", "large",
 * "turbo"), then the transformer config's architecture; turbo is only told apart by name.
 */
export function detectSd3Family(names: readonly string[], t: Sd3TransformerSignals): ModelFamily {
  const turbo = names.some((n) => /turbo/i.test(n));
  // "stable-diffusion-3.5-medium", "sd3.5", "sd3-5", "sd35".
  const named35 = names.some((n) => /(sd|diffusion)[-_ ]?3[._-]5|sd35/i.test(n));
  const large = names.some((n) => /large/i.test(n)) || t.numLayers === SD35_LARGE_LAYERS;
  if (large) return turbo ? 'sd3.5-large-turbo' : 'sd3.5-large';
  if (turbo) return 'sd3.5-large-turbo';
  if (named35 || t.dualAttention || t.qkNorm) return 'sd3.5-medium';
  return 'sd3';
}

/**
 * LCM-LoRA merges have an LCM scheduler but no timestep_cond: guidance there is real
 * classifier-free guidance, which their cards turn off (guidance 1).
 */
export const LCM_LORA_GUIDANCE = 1;

/** What a model folder says about itself, read from its configs without loading any graph. */
export interface FamilySignals {
  /** Folder name and model_index.json's _name_or_path, when it has one. */
  names: string[];
  /** Has text_encoder_2 (SDXL's second, projected text encoder). */
  twoTextEncoders: boolean;
  vPrediction: boolean;
  /** unet/config.json's cross_attention_dim: 768 for SD 1.x, 1024 for SD 2.x. */
  crossAttentionDim?: number;
  /** unet/config.json's time_cond_proj_dim: set for LCM-distilled UNets. */
  timeCondProjDim?: number;
  schedulerClass?: string;
}

const SD2_CROSS_ATTENTION_DIM = 1024;

export function detectFamily(s: FamilySignals): ModelFamily {
  // Turbo models are architecturally their base model; only the name tells them apart.
  const turbo = s.names.some((n) => /turbo/i.test(n));
  const lcm = s.timeCondProjDim !== undefined || s.schedulerClass === 'LCMScheduler';
  if (s.twoTextEncoders) return turbo ? 'sdxl-turbo' : lcm ? 'sdxl-lcm' : 'sdxl';
  if (turbo) return 'sd-turbo';
  if (lcm) return 'lcm';
  if (s.vPrediction) return 'sd2-v';
  return s.crossAttentionDim === SD2_CROSS_ATTENTION_DIM ? 'sd2' : 'sd1';
}

export function isSdxlFamily(f: ModelFamily): boolean {
  return f === 'sdxl' || f === 'sdxl-turbo' || f === 'sdxl-lcm';
}

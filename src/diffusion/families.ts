// Model families and their recommended settings. A family decides how prompts are encoded
// (SDXL: two text encoders), which extra UNet inputs exist (LCM: timestep_cond) and the
// defaults a request falls back to when the user gives none.
import type { SchedulerName } from './types.js';

export type ModelFamily = 'sd1' | 'sd2' | 'sd2-v' | 'sd-turbo' | 'sdxl' | 'sdxl-turbo' | 'lcm' | 'sdxl-lcm';

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
};

/**
 * Few-step distilled families: their steps, guidance and scheduler are part of the model, so
 * a server's general defaults (meant for ordinary models) must not override them.
 */
export function isDistilledFamily(family: ModelFamily): boolean {
  return family === 'sd-turbo' || family === 'sdxl-turbo' || family === 'lcm' || family === 'sdxl-lcm';
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

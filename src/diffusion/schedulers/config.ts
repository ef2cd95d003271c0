// scheduler_config.json keys, validated per scheduler class. Each class has its own zod schema
// so a missing key gets THAT class's diffusers default (EulerDiscrete: linspace spacing, DDIM:
// leading), and keys a class does not know (_class_name, another class's options) are dropped,
// as diffusers' from_config does.
import { z } from 'zod';
import { ModelError } from '../errors.js';

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];

export const TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample' | 'original_sample' | 'flow_prediction';

/** The one key every scheduler class has, flow-matching ones included. */
export interface BaseSchedulerConfig {
  num_train_timesteps: number;
}

/** Keys every diffusion (beta-schedule) scheduler here has: the noise schedule and how steps are spread over it. */
export interface CommonConfig extends BaseSchedulerConfig {
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas: number[] | null;
  prediction_type: PredictionType;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
}

/** Input shape: any subset of the keys any scheduler class accepts, plus ignored extras. */
export interface SchedulerConfig extends CommonConfig {
  rescale_betas_zero_snr: boolean;
  set_alpha_to_one: boolean;
  clip_sample: boolean;
  clip_sample_range: number;
  skip_prk_steps: boolean;
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  interpolation_type: 'linear' | 'log_linear';
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
  use_beta_sigmas: boolean;
  use_lu_lambdas: boolean;
  use_flow_sigmas: boolean;
  sigma_min: number | null;
  sigma_max: number | null;
  timestep_type: 'discrete' | 'continuous';
  final_sigmas_type: 'zero' | 'sigma_min';
  solver_order: number;
  solver_type: string;
  algorithm_type: string;
  lower_order_final: boolean;
  euler_at_final: boolean;
  lambda_min_clipped: number;
  variance_type: string | null;
  original_inference_steps: number;
  timestep_scaling: number;
  /** DDIM's eta (a pipeline argument in diffusers, not a config key): 0 is deterministic DDIM. */
  eta: number;
  /** FlowMatchEulerDiscreteScheduler's timestep shift (SD3: 3.0). */
  shift: number;
  use_dynamic_shifting: boolean;
  invert_sigmas: boolean;
  shift_terminal: number | null;
  stochastic_sampling: boolean;
  [extra: string]: unknown;
}

interface NoiseScheduleDefaults {
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: BetaSchedule;
  timestep_spacing: TimestepSpacing;
}

/** Zod fields for the noise schedule and timestep spacing, with one class's defaults. */
export function noiseScheduleFields(defaults: NoiseScheduleDefaults) {
  return {
    num_train_timesteps: z.number().int().positive().default(1000),
    beta_start: z
      .number()
      .positive()
      .default(defaults.beta_start ?? 0.0001),
    beta_end: z
      .number()
      .positive()
      .default(defaults.beta_end ?? 0.02),
    beta_schedule: z.enum(BETA_SCHEDULES).default(defaults.beta_schedule ?? 'linear'),
    trained_betas: z.array(z.number()).nullable().default(null),
    timestep_spacing: z.enum(TIMESTEP_SPACINGS).default(defaults.timestep_spacing),
    steps_offset: z.number().int().min(0).default(0),
  };
}

/**
 * Zod fields of the sigma respacing options (Karras or exponential sigmas): the same keys and
 * defaults in every class that has them. Beta sigmas are parsed only to be rejected.
 */
export function sigmaSpacingFields() {
  return {
    use_karras_sigmas: z.boolean().default(false),
    use_exponential_sigmas: z.boolean().default(false),
    use_beta_sigmas: z.boolean().default(false),
  };
}

/** diffusers' checks on the respacing options, plus the one this port lacks (beta sigmas). */
export function checkSigmaSpacing(className: string, c: { use_karras_sigmas: boolean; use_exponential_sigmas: boolean; use_beta_sigmas: boolean }): void {
  if (c.use_beta_sigmas) unsupportedOption(className, 'use_beta_sigmas', 'it needs scipy’s beta.ppf');
  if (Number(c.use_karras_sigmas) + Number(c.use_exponential_sigmas) > 1) {
    throw new RangeError(`${className}: use only one of use_karras_sigmas and use_exponential_sigmas`);
  }
}

/** Parsed configs per input object and schema: a job makes one scheduler per image from the model's config. */
const parsedConfigs = new WeakMap<object, Map<z.ZodType, unknown>>();

/**
 * Validates `input` against one class's schema. JSON nulls count as missing (diffusers reads
 * None as "off" for its flags), so a config written by any diffusers version still loads.
 * Config objects are read-only: the same input object gives the same (frozen) parsed config.
 */
export function parseSchedulerConfig<S extends z.ZodType>(schema: S, input: unknown, className: string): z.output<S> {
  const byInput = input && typeof input === 'object' ? parsedConfigs.get(input) : undefined;
  if (byInput?.has(schema)) return byInput.get(schema) as z.output<S>;
  const withoutNulls = input && typeof input === 'object' ? Object.fromEntries(Object.entries(input).filter(([, v]) => v !== null)) : (input ?? {});
  const parsed = schema.safeParse(withoutNulls);
  if (!parsed.success) {
    throw new ModelError(`Invalid ${className} config in scheduler_config.json:\n${z.prettifyError(parsed.error)}`);
  }
  const config = Object.freeze(parsed.data) as z.output<S>;
  if (input && typeof input === 'object') {
    const cache = byInput ?? new Map<z.ZodType, unknown>();
    cache.set(schema, config);
    parsedConfigs.set(input, cache);
  }
  return config;
}

/** A diffusers option this port does not implement: say so instead of silently ignoring it. */
export function unsupportedOption(className: string, option: string, why: string): never {
  throw new ModelError(`${className}: ${option} is not supported (${why}). Remove it from scheduler_config.json.`);
}

// What the k-diffusion style discrete schedulers (Heun, LMS, DPM++ SDE) share: timesteps spread
// over the training steps, the model's sigmas interpolated at them (optionally respaced as
// Karras or exponential sigmas), the initial noise scale, and x̂₀ from a sigma-scaled output.
import type { TimestepSpacing } from './config.js';
import { linearCombination } from './elementwise.js';
import {
  exponentialSigmas,
  interpOnIndexGrid,
  karrasSigmas,
  linspace,
  logSigmasOf,
  sigmaToT,
  spacedTimesteps,
  trainSigmas,
} from './noise-schedule.js';

export interface DiscreteSigmaConfig {
  num_train_timesteps: number;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
}

export interface DiscreteSigmaSchedule {
  /** Descending, fractional where interpolated (Karras / exponential) or linspace-spaced. */
  timesteps: number[];
  /** One per timestep, without the final 0. */
  sigmas: number[];
  /** log of every training sigma (ascending t), float32 like np.log on diffusers' array. */
  logSigmas: Float32Array;
}

/**
 * diffusers' set_timesteps of Heun/LMS/DPMSolverSDE. `float32Linspace`: those classes build
 * linspace timesteps as float32 (Heun, LMS) or float64 (DPMSolverSDE).
 */
export function discreteSigmaSchedule(
  c: DiscreteSigmaConfig,
  alphasCumprod: Float32Array,
  steps: number,
  { float32Linspace }: { float32Linspace: boolean },
): DiscreteSigmaSchedule {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (Number(c.use_karras_sigmas) + Number(c.use_exponential_sigmas) > 1) {
    throw new RangeError('use only one of use_karras_sigmas and use_exponential_sigmas');
  }
  let timesteps =
    c.timestep_spacing === 'linspace' && !float32Linspace
      ? linspace(0, c.num_train_timesteps - 1, steps).reverse()
      : spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset, { roundLinspace: false });
  const train = trainSigmas(alphasCumprod);
  const logSigmas = logSigmasOf(train);
  let sigmas = timesteps.map((t) => interpOnIndexGrid(t, train));
  if (c.use_karras_sigmas || c.use_exponential_sigmas) {
    // These classes have no sigma_min / sigma_max keys: the interpolated endpoints are used.
    const sigmaMin = sigmas[sigmas.length - 1];
    const sigmaMax = sigmas[0];
    sigmas = c.use_karras_sigmas ? karrasSigmas(sigmaMin, sigmaMax, steps) : exponentialSigmas(sigmaMin, sigmaMax, steps);
    timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
  }
  return { timesteps, sigmas, logSigmas };
}

/** Standard deviation of the initial noise: σ_max, or sqrt(σ_max² + 1) for leading spacing. */
export function initNoiseSigmaOf(spacing: TimestepSpacing, sigmas: Float32Array): number {
  const maxSigma = sigmas.reduce((m, s) => Math.max(m, s), 0);
  return spacing === 'leading' ? Math.fround(Math.sqrt(maxSigma ** 2 + 1)) : maxSigma;
}

/** The model input scaling of the sigma parameterisation: x / sqrt(σ² + 1). */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const factor = 1 / Math.sqrt(sigma ** 2 + 1);
  return sample.map((v) => v * factor);
}

/** x̂₀ from a model output at noise level σ (x = x₀ + σ ε), per prediction type. */
export function predictOriginal(
  predictionType: 'epsilon' | 'v_prediction' | 'sample',
  sigma: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): Float32Array {
  switch (predictionType) {
    case 'epsilon':
      return linearCombination([1, sample], [-sigma, modelOutput]);
    case 'v_prediction':
      return linearCombination([-sigma / Math.sqrt(sigma ** 2 + 1), modelOutput], [1 / (sigma ** 2 + 1), sample]);
    case 'sample':
      return modelOutput.slice();
  }
}

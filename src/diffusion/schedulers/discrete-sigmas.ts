// The schedule maths of the k-diffusion style discrete schedulers (Euler, Euler a, Heun, LMS,
// DPM++ SDE): timesteps spread over the training steps, the model's sigmas interpolated at them
// (optionally respaced as Karras or exponential sigmas), the initial noise scale, x̂₀ from a
// sigma-scaled output, and the Euler update along the probability-flow ODE.
import type { TimestepSpacing } from './config.js';
import { linearCombination, outputView, type Term } from './elementwise.js';
import type { ModelOutput, StepBuffers, StepOutput } from './types.js';
import {
  exponentialSigmas,
  interpOnIndexGrid,
  karrasSigmas,
  linspace,
  logSigmasOf,
  sigmaToT,
  spacedTimesteps,
  torchLinspaceF32,
  trainSigmas,
} from './noise-schedule.js';

/**
 * The config keys set_timesteps reads. A key a class does not have means what diffusers
 * hard-codes for that class: no respacing, the interpolated endpoints as bounds, linear
 * interpolation.
 */
export interface DiscreteSigmaConfig {
  num_train_timesteps: number;
  timestep_spacing: TimestepSpacing;
  steps_offset: number;
  use_karras_sigmas?: boolean;
  use_exponential_sigmas?: boolean;
  /** Euler's respacing bounds; without them, the interpolated endpoints. */
  sigma_min?: number | null;
  sigma_max?: number | null;
  /** Euler's log_linear: steps + 1 sigmas evenly spaced in log σ over the training range. */
  interpolation_type?: 'linear' | 'log_linear';
}

export interface DiscreteSigmaSchedule {
  /** Descending, fractional where interpolated (Karras / exponential) or linspace-spaced. */
  timesteps: number[];
  /** One per timestep (log_linear: one more), without the final sigma. */
  sigmas: number[];
  /** Every training sigma (ascending t), float32. */
  trainSigmas: Float32Array;
  /** log of every training sigma, float32 like np.log on diffusers' array. */
  logSigmas: Float32Array;
}

/**
 * diffusers' set_timesteps of Euler/Euler a/Heun/LMS/DPMSolverSDE, up to the final sigma.
 * `float32Linspace`: linspace timesteps are float32 in all of them but DPMSolverSDE (float64).
 */
export function discreteSigmaSchedule(
  c: DiscreteSigmaConfig,
  alphasCumprod: Float32Array,
  steps: number,
  { float32Linspace }: { float32Linspace: boolean },
): DiscreteSigmaSchedule {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  let timesteps =
    c.timestep_spacing === 'linspace' && !float32Linspace
      ? linspace(0, c.num_train_timesteps - 1, steps).reverse()
      : spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset, { roundLinspace: false });
  const train = trainSigmas(alphasCumprod);
  const logSigmas = logSigmasOf(train);
  let sigmas =
    c.interpolation_type === 'log_linear'
      ? Array.from(torchLinspaceF32(logSigmas[logSigmas.length - 1], logSigmas[0], steps + 1), (l) => Math.fround(Math.exp(l)))
      : timesteps.map((t) => interpOnIndexGrid(t, train));
  if (c.use_karras_sigmas || c.use_exponential_sigmas) {
    const sigmaMin = c.sigma_min ?? sigmas[sigmas.length - 1];
    const sigmaMax = c.sigma_max ?? sigmas[0];
    sigmas = c.use_karras_sigmas ? karrasSigmas(sigmaMin, sigmaMax, steps) : exponentialSigmas(sigmaMin, sigmaMax, steps);
    timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
  }
  return { timesteps, sigmas, trainSigmas: train, logSigmas };
}

/**
 * The sigmas of a two-evaluation scheduler (Heun, DPM++ SDE), one per UNet call: σ₀, then every
 * σ up to the final 0 twice (σ₁, σ₁ … σ_{N−1}, σ_{N−1}), then 0. Each is rounded to float32 first.
 */
export function interleavedSigmas(sigmas: readonly number[]): Float32Array {
  const f32 = Float32Array.from([...sigmas, 0]);
  return Float32Array.from([f32[0], ...Array.from(f32.subarray(1, -1)).flatMap((s) => [s, s]), 0]);
}

/** Standard deviation of the initial noise: σ_max, or sqrt(σ_max² + 1) for leading spacing. */
export function initNoiseSigmaOf(spacing: TimestepSpacing, sigmas: Float32Array): number {
  const maxSigma = sigmas.reduce((m, s) => Math.max(m, s), 0);
  // leading spacing starts below the top sigma; its noise is normalised as x / sqrt(σ² + 1).
  return spacing === 'leading' ? Math.fround(Math.sqrt(maxSigma ** 2 + 1)) : maxSigma;
}

/** The model input scaling of the sigma parameterisation: x / sqrt(σ² + 1). */
export function scaleBySigma(sample: Float32Array, sigma: number, out: Float32Array = new Float32Array(sample.length)): Float32Array {
  const factor = 1 / Math.sqrt(sigma ** 2 + 1);
  for (let i = 0; i < sample.length; i++) out[i] = sample[i] * factor;
  return out;
}

/** x̂₀ from a model output at noise level σ (x = x₀ + σ ε), per prediction type. */
export function predictOriginal(
  predictionType: 'epsilon' | 'v_prediction' | 'sample' | 'original_sample',
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
    case 'original_sample':
      return modelOutput.slice();
  }
}

/**
 * An Euler step of dx/dσ = (x − x̂₀) / σ from σ to σ_to, folded into one combination of x and
 * x̂₀ (plus `extra` terms, e.g. ancestral noise, summed in the same pass).
 */
export function eulerStep(sample: Float32Array, predOriginal: Float32Array, sigma: number, sigmaTo: number, ...extra: Term[]): Float32Array {
  const dt = sigmaTo - sigma;
  return linearCombination([1 + dt / sigma, sample], [-dt / sigma, predOriginal], ...extra);
}

/**
 * predictOriginal, then eulerStep (plus an optional [coefficient, noise] term, Euler a's), in one
 * pass over the latents, reading a GuidedOutput's two halves as it goes. Every element goes
 * through the same float64 operations and float32 roundings as the separate passes
 * (test/diffusion/schedulers/bit-exact.test.ts), with no noise_pred array and about a third of
 * their memory traffic, which after each UNet call comes from cold caches.
 */
export function eulerStepInto(
  predictionType: 'epsilon' | 'v_prediction' | 'sample' | 'original_sample',
  modelOutput: ModelOutput,
  sample: Float32Array,
  sigma: number,
  sigmaTo: number,
  into: StepBuffers,
  noise?: Term,
): StepOutput {
  const n = sample.length;
  const { values: m, guided, uncond: u, cond: c, scale: g } = outputView(modelOutput, n);
  const x0 = into.predOriginalSample;
  const prev = into.prevSample;
  if (x0.length !== n || prev.length !== n || (noise && noise[1].length !== n)) throw new RangeError(`Step buffers must hold ${n} values`);
  // x̂₀ = 0 + ks·x + kp·output (predictOriginal's terms; a two-term sum from 0 is the same in
  // either order), or the output itself for 'sample'.
  const fromOutput = predictionType === 'sample' || predictionType === 'original_sample';
  const ks = predictionType === 'epsilon' ? 1 : 1 / (sigma ** 2 + 1);
  const kp = predictionType === 'epsilon' ? -sigma : -sigma / Math.sqrt(sigma ** 2 + 1);
  const dt = sigmaTo - sigma;
  const a = 1 + dt / sigma;
  const b = -dt / sigma;
  const cn = noise ? noise[0] : 0;
  const z = noise ? noise[1] : x0;
  const f32 = Math.fround;
  for (let k = 0; k < n; k++) {
    const p = guided ? f32(m[u + k] + g * (m[c + k] - m[u + k])) : m[k];
    const s = sample[k];
    const x = fromOutput ? p : f32(0 + ks * s + kp * p);
    x0[k] = x;
    prev[k] = noise ? 0 + a * s + b * x + cn * z[k] : 0 + a * s + b * x;
  }
  return { prevSample: prev, predOriginalSample: x0 };
}

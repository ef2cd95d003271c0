// Math every scheduler shares: beta schedules and alphas_cumprod, timestep spacing, sigma
// schedules (Karras, exponential) and the numpy helpers diffusers builds them with.
// Arrays diffusers keeps in float32 (betas, alphas_cumprod, sigmas) are Float32Array here, and
// the numpy/torch steps that produce them are reproduced step by step (round half to even,
// arange's fill rule, linspace's formula), so timesteps come out identical, not just close.
import type { BetaSchedule, CommonConfig, TimestepSpacing } from './config.js';
import { linearCombination } from './elementwise.js';

const f32 = Math.fround;

// ---------------------------------------------------------------------------------------------
// numpy / torch building blocks

/** numpy's round(): half to even (np.round(2.5) === 2). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.linspace(start, stop, num, endpoint): i × step + start, with the last value pinned to stop. */
export function linspace(start: number, stop: number, num: number, endpoint = true): number[] {
  const div = endpoint ? num - 1 : num;
  const step = (stop - start) / div;
  const out = Array.from({ length: num }, (_, i) => (div > 0 ? i * step + start : start));
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** np.arange(start, stop, step) for floats: numpy fills start + i × (second − first). */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Array.from({ length }, (_, i) => start + i * delta);
}

/** torch.linspace(start, end, steps, dtype=float32) on CPU: float32 arithmetic, from both ends. */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? s + f32(step * i) : e - f32(step * (steps - i - 1));
  }
  return out;
}

/** np.interp(x, arange(fp.length), fp): linear interpolation on an integer grid. */
export function interpOnIndexGrid(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  return (fp[j + 1] - fp[j]) * (x - j) + fp[j];
}

// ---------------------------------------------------------------------------------------------
// Noise schedule

export interface NoiseSchedule {
  betas: Float32Array;
  alphasCumprod: Float32Array;
}

export interface NoiseScheduleConfig extends Pick<CommonConfig, 'num_train_timesteps' | 'beta_start' | 'beta_end'> {
  beta_schedule: BetaSchedule;
  trained_betas: number[] | null;
  rescale_betas_zero_snr?: boolean;
}

/** diffusers' __init__: betas from the config, optionally rescaled to zero terminal SNR. */
export function noiseSchedule(config: NoiseScheduleConfig): NoiseSchedule {
  let betas = betasFromConfig(config);
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  return { betas, alphasCumprod: cumprodOfAlphas(betas) };
}

/**
 * ᾱ for the schedulers that work in σ = sqrt((1 − ᾱ) / ᾱ) (Euler, Euler a, DPM-Solver, UniPC):
 * after zero-SNR rescaling the last ᾱ is 0, so diffusers sets it to 2⁻²⁴ to keep σ_max finite.
 */
export function finiteSigmaAlphasCumprod(config: NoiseScheduleConfig): Float32Array {
  const { alphasCumprod } = noiseSchedule(config);
  if (config.rescale_betas_zero_snr) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return alphasCumprod;
}

function betasFromConfig(config: NoiseScheduleConfig): Float32Array {
  const n = config.num_train_timesteps;
  if (config.trained_betas) return Float32Array.from(config.trained_betas);
  switch (config.beta_schedule) {
    case 'linear':
      return torchLinspaceF32(config.beta_start, config.beta_end, n);
    case 'scaled_linear':
      // Linear in sqrt(beta), then squared: the schedule Stable Diffusion was trained with.
      return torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((b) => b * b);
    case 'squaredcos_cap_v2':
      return cosineBetas(n);
  }
}

/** betas_for_alpha_bar with the cosine alpha_bar of Nichol & Dhariwal (improved DDPM). */
export function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float32Array(n);
  for (let i = 0; i < n; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return betas;
}

/** Algorithm 1 of "Common Diffusion Noise Schedules and Sample Steps are Flawed". */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const sqrtBar = Array.from(cumprodOfAlphas(betas), Math.sqrt);
  const first = sqrtBar[0];
  const last = sqrtBar[sqrtBar.length - 1];
  const bar = sqrtBar.map((s) => ((s - last) * (first / (first - last))) ** 2);
  return Float32Array.from(bar, (b, i) => 1 - (i === 0 ? b : b / bar[i - 1]));
}

/** torch.cumprod(1 − betas) on CPU: float32 alphas, a double accumulator, float32 results. */
function cumprodOfAlphas(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/** sigma_t = sqrt((1 − ᾱ_t) / ᾱ_t) for every training timestep (ascending t), in float32. */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** log of each float32 sigma, as np.log on a float32 array. */
export function logSigmasOf(sigmas: Float32Array): Float32Array {
  return sigmas.map((s) => Math.log(s));
}

/** ᾱ_t for an integer training timestep, with a clear error instead of `undefined` math. */
export function alphaProdAt(alphasCumprod: Float32Array, t: number): number {
  if (!Number.isInteger(t) || t < 0 || t >= alphasCumprod.length) {
    throw new RangeError(`Timestep ${t} is not an integer in [0, ${alphasCumprod.length - 1}]`);
  }
  return alphasCumprod[t];
}

/** The DDPM forward process q(x_t | x_0): sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε. */
export function ddpmAddNoise(alphasCumprod: Float32Array, original: Float32Array, noise: Float32Array, t: number): Float32Array {
  const a = alphaProdAt(alphasCumprod, t);
  return linearCombination([Math.sqrt(a), original], [Math.sqrt(1 - a), noise]);
}

// ---------------------------------------------------------------------------------------------
// Timestep spacing (Table 2 of the paper above)

/**
 * The DDIM-family schedule, descending: `leading` (0, r, 2r… + steps_offset), `trailing`
 * (counted back from the last training step) or `linspace`, rounded for integer schedulers
 * and left fractional (float32) for Euler's.
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  steps: number,
  stepsOffset: number,
  { roundLinspace }: { roundLinspace: boolean },
): number[] {
  switch (spacing) {
    case 'linspace':
      return linspace(0, numTrainTimesteps - 1, steps)
        .map((t) => (roundLinspace ? roundHalfEven(t) : f32(t)))
        .reverse();
    case 'leading': {
      const ratio = Math.floor(numTrainTimesteps / steps);
      return Array.from({ length: steps }, (_, i) => i * ratio + stepsOffset).reverse();
    }
    case 'trailing':
      return arange(numTrainTimesteps, 0, -numTrainTimesteps / steps).map((t) => roundHalfEven(t) - 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Sigma schedules

/** Karras et al. (2022) eq. 5: sigmas evenly spaced in sigma^(1/7), from max to min. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number, rho = 7): number[] {
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, steps).map((r) => (maxInvRho + r * (minInvRho - maxInvRho)) ** rho);
}

/** Sigmas evenly spaced in log sigma, from max to min. */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, steps: number): number[] {
  return linspace(Math.log(sigmaMax), Math.log(sigmaMin), steps).map(Math.exp);
}

/** diffusers' _sigma_to_t: the (fractional) training timestep whose log sigma matches. */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // Last index whose log sigma is <= ours (0 when none), kept one short of the end.
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}

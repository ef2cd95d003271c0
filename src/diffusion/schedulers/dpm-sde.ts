// diffusers' DPMSolverSDEScheduler: k-diffusion's "DPM++ SDE" (sample_dpmpp_sde, second-order
// singlestep DPM-Solver++ with ancestral noise, midpoint r = 1/2). Each step evaluates the model
// at σ and at the midpoint sqrt(σ σ_next), so `timesteps` interleaves the midpoints' timesteps and
// a run of N steps makes 2N − 1 UNet calls (the last step, down to σ = 0, is a plain Euler step).
//
// Noise: diffusers draws it from a torchsde Brownian tree seeded by `noise_sampler_seed` (random
// when unset), which cannot be reproduced bit for bit without torchsde. Here the same Brownian
// increments — jointly Gaussian with the tree's exact covariance, nested within a step and
// independent across steps — are drawn from the job's TorchGenerator, so a seed is reproducible
// in this engine, but the stochastic part differs from diffusers' for the same seed.
import { z } from 'zod';
import { checkSigmaSpacing, noiseScheduleFields, parseSchedulerConfig, sigmaSpacingFields } from './config.js';
import { discreteSigmaSchedule, eulerStep, interleavedSigmas, predictOriginal, scaleBySigma } from './discrete-sigmas.js';
import { drawNoise, linearCombination } from './elementwise.js';
import { sigmaToT } from './noise-schedule.js';
import { SigmaScheduler } from './sigma-scheduler.js';
import type { NoiseGenerator, StepOutput } from './types.js';

const CLASS = 'DPMSolverSDEScheduler';

const dpmSdeConfigSchema = z.object({
  ...noiseScheduleFields({ beta_start: 0.00085, beta_end: 0.012, timestep_spacing: 'linspace' }),
  // diffusers raises NotImplementedError for 'sample' in step(); reject it up front instead.
  prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
  ...sigmaSpacingFields(),
});
export type DpmSdeConfig = z.output<typeof dpmSdeConfigSchema>;

/** The first half of a step: where it started, its midpoint, and the Brownian draw to it. */
interface MidpointState {
  sample: Float32Array;
  midSigma: number;
  /** W(σ_mid) − W(σ), normalised to unit variance. */
  noise: Float32Array;
}

/** k-diffusion's get_ancestral_step (eta 1): σ_down to step to deterministically, σ_up of fresh noise. */
function ancestralStep(sigmaFrom: number, sigmaTo: number): { sigmaDown: number; sigmaUp: number } {
  const sigmaUp = Math.min(sigmaTo, Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2));
  return { sigmaDown: Math.sqrt(sigmaTo ** 2 - sigmaUp ** 2), sigmaUp };
}

/** The midpoint in t = −log σ (r = 1/2): exp(−(t + (t_next − t) / 2)), i.e. sqrt(σ σ_next). */
function midpointSigma(sigma: number, sigmaNext: number): number {
  const t = -Math.log(sigma);
  const tNext = -Math.log(sigmaNext);
  return Math.exp(-(t + (tNext - t) * 0.5));
}

export class DpmSdeScheduler extends SigmaScheduler<DpmSdeConfig> {
  readonly name = 'dpmpp_sde';
  readonly order = 2;
  readonly stochastic = true;
  // timesteps: σ₀, m₀, σ₁, m₁ … σ_{N−1}, each step's start, then its midpoint's (fractional) one;
  // sigmas: σ₀, σ₁, σ₁ … σ_{N−1}, σ_{N−1}, 0, interleaved like Heun's.

  private midpoint: MidpointState | undefined;

  constructor(config: unknown) {
    super(parseSchedulerConfig(dpmSdeConfigSchema, config, CLASS));
    checkSigmaSpacing(CLASS, this.config);
    this.setTimesteps(this.config.num_train_timesteps);
  }

  setTimesteps(steps: number): void {
    const { timesteps, sigmas, logSigmas } = discreteSigmaSchedule(this.config, this.alphasCumprod, steps, {
      float32Linspace: false,
    });
    // Each step's midpoint as a (fractional) training timestep, for the UNet's second call.
    const midTimesteps = sigmas.slice(0, -1).map((s, i) => sigmaToT(midpointSigma(s, sigmas[i + 1]), logSigmas));
    this.sigmas = interleavedSigmas(sigmas);
    this.timesteps = [timesteps[0], ...timesteps.slice(1).flatMap((t, i) => [midTimesteps[i], t])];
    this.midpoint = undefined;
    this.stepIndex.reset();
  }

  /** The second call of a step is evaluated at the midpoint's σ. */
  override scaleModelInput(sample: Float32Array, t: number, out?: Float32Array): Float32Array {
    const index = this.stepIndex.current(this.timesteps, t);
    return scaleBySigma(sample, this.midpoint ? this.midpoint.midSigma : this.sigmas[index], out);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const mid = this.midpoint;
    const sigma = mid ? this.sigmas[index - 1] : this.sigmas[index];
    const sigmaNext = mid ? this.sigmas[index] : this.sigmas[index + 1];
    const predOriginal = predictOriginal(this.config.prediction_type, mid ? mid.midSigma : sigma, modelOutput, sample);

    let prevSample: Float32Array;
    if (sigmaNext === 0) {
      // Last step: Euler to σ = 0, i.e. the model's x̂₀.
      prevSample = eulerStep(sample, predOriginal, sigma, sigmaNext);
    } else {
      // First half to the midpoint sqrt(σ σ_next) with the x̂₀ at σ; second half from the step's
      // start to σ_next with the x̂₀ at the midpoint.
      const start = mid ? mid.sample : sample;
      const sigmaTo = mid ? sigmaNext : midpointSigma(sigma, sigmaNext);
      const { sigmaDown, sigmaUp } = ancestralStep(sigma, sigmaTo);
      const noise = this.brownianNoise(generator, sample.length, sigma, sigmaTo, mid);
      // x' = (σ_down / σ) x + (1 − σ_down / σ) x̂₀ + σ_up z: the DPM-Solver++ first-order update.
      const ratio = sigmaDown / sigma;
      prevSample = linearCombination([ratio, start], [1 - ratio, predOriginal], [sigmaUp, noise]);
      this.midpoint = mid ? undefined : { sample, midSigma: sigmaTo, noise };
    }
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: predOriginal };
  }

  /**
   * The normalised Brownian increment (W(σ_to) − W(σ)) / sqrt(σ − σ_to). The second half's
   * interval [σ_next, σ] contains the first half's [σ_mid, σ]: its increment reuses the first
   * draw and adds an independent one for [σ_next, σ_mid], as a Brownian tree would.
   */
  private brownianNoise(generator: NoiseGenerator | undefined, n: number, sigma: number, sigmaTo: number, mid: MidpointState | undefined): Float32Array {
    const fresh = drawNoise(generator, n, 'DPM++ SDE');
    if (!mid) return fresh;
    const inner = sigma - mid.midSigma;
    const outer = mid.midSigma - sigmaTo;
    const total = sigma - sigmaTo;
    return linearCombination([Math.sqrt(inner / total), mid.noise], [Math.sqrt(outer / total), fresh]);
  }
}

// diffusers' HeunDiscreteScheduler: Algorithm 2 of Karras et al. (2022) without churn. Each step
// is an Euler step followed by a correction with the slope at its end, so every timestep but the
// first appears twice in `timesteps` and a run of N steps makes 2N − 1 UNet calls (the last step,
// down to σ = 0, stays first order).
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { discreteSigmaSchedule, initNoiseSigmaOf, predictOriginal, scaleBySigma } from './discrete-sigmas.js';
import { clamp, linearCombination } from './elementwise.js';
import { noiseSchedule } from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { Scheduler, StepOutput } from './types.js';

const CLASS = 'HeunDiscreteScheduler';

const heunConfigSchema = z.object({
  ...noiseScheduleFields({ beta_start: 0.00085, beta_end: 0.012, timestep_spacing: 'linspace' }),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  use_karras_sigmas: z.boolean().default(false),
  use_exponential_sigmas: z.boolean().default(false),
  use_beta_sigmas: z.boolean().default(false),
  clip_sample: z.boolean().default(false),
  clip_sample_range: z.number().positive().default(1),
});
export type HeunConfig = z.output<typeof heunConfigSchema>;

/** The first half of a step, kept for its correction. */
interface FirstOrderState {
  derivative: Float32Array;
  dt: number;
  sample: Float32Array;
}

export class HeunScheduler implements Scheduler<HeunConfig> {
  readonly name = 'heun';
  readonly config: Readonly<HeunConfig>;
  readonly order = 2;
  readonly stochastic = false;
  timesteps: number[] = [];
  /** Interleaved like the timesteps: σ₀, σ₁, σ₁, σ₂, σ₂ … σ_{N−1}, σ_{N−1}, 0. */
  sigmas = new Float32Array(0);

  private readonly alphasCumprod: Float32Array;
  private readonly stepIndex = new StepIndex();
  private pending: FirstOrderState | undefined;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(heunConfigSchema, config, CLASS);
    if (this.config.use_beta_sigmas) unsupportedOption(CLASS, 'use_beta_sigmas', 'it needs scipy’s beta.ppf');
    this.alphasCumprod = noiseSchedule(this.config).alphasCumprod;
    // diffusers initialises with every training step as the schedule.
    this.setTimesteps(this.config.num_train_timesteps);
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.config.timestep_spacing, this.sigmas);
  }

  setTimesteps(steps: number): void {
    const { timesteps, sigmas } = discreteSigmaSchedule(this.config, this.alphasCumprod, steps, { float32Linspace: true });
    const f32Sigmas = Float32Array.from([...sigmas, 0]);
    // Every sigma between the first and the final 0 (and every timestep after the first) twice.
    this.sigmas = Float32Array.from([f32Sigmas[0], ...Array.from(f32Sigmas.subarray(1, -1)).flatMap((s) => [s, s]), 0]);
    this.timesteps = [timesteps[0], ...timesteps.slice(1).flatMap((t) => [t, t])].map(Math.fround);
    this.pending = undefined;
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array, t: number): Float32Array {
    return scaleBySigma(sample, this.sigmas[this.stepIndex.current(this.timesteps, t)]);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const first = this.pending;
    const sigma = first ? this.sigmas[index - 1] : this.sigmas[index];
    const sigmaNext = first ? this.sigmas[index] : this.sigmas[index + 1];
    // The correction evaluates the model at the end of the Euler step, i.e. at σ_next.
    let predOriginal = predictOriginal(this.config.prediction_type, first ? sigmaNext : sigma, modelOutput, sample);
    if (this.config.clip_sample) predOriginal = clamp(predOriginal, this.config.clip_sample_range);

    let prevSample: Float32Array;
    if (!first) {
      // Euler step: d = (x − x̂₀) / σ, x' = x + d (σ_next − σ).
      const derivative = linearCombination([1 / sigma, sample], [-1 / sigma, predOriginal]);
      const dt = sigmaNext - sigma;
      this.pending = { derivative, dt, sample };
      prevSample = linearCombination([1, sample], [dt, derivative]);
    } else {
      // Heun's correction: the mean of both slopes, applied from the step's start.
      const derivative = linearCombination([1 / sigmaNext, sample], [-1 / sigmaNext, predOriginal]);
      prevSample = linearCombination([1, first.sample], [first.dt / 2, first.derivative], [first.dt / 2, derivative]);
      this.pending = undefined;
    }
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: predOriginal };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)];
    return linearCombination([1, original], [sigma, noise]);
  }
}

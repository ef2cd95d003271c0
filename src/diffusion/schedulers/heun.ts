// diffusers' HeunDiscreteScheduler: Algorithm 2 of Karras et al. (2022) without churn. Each step
// is an Euler step followed by a correction with the slope at its end, so every timestep but the
// first appears twice in `timesteps` and a run of N steps makes 2N − 1 UNet calls (the last step,
// down to σ = 0, stays first order).
import { z } from 'zod';
import { checkSigmaSpacing, noiseScheduleFields, parseSchedulerConfig, sigmaSpacingFields } from './config.js';
import { discreteSigmaSchedule, interleavedSigmas, predictOriginal } from './discrete-sigmas.js';
import { clamp, linearCombination } from './elementwise.js';
import { SigmaScheduler } from './sigma-scheduler.js';
import type { StepOutput } from './types.js';

const CLASS = 'HeunDiscreteScheduler';

const heunConfigSchema = z.object({
  ...noiseScheduleFields({ beta_start: 0.00085, beta_end: 0.012, timestep_spacing: 'linspace' }),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  ...sigmaSpacingFields(),
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

export class HeunScheduler extends SigmaScheduler<HeunConfig> {
  readonly name = 'heun';
  readonly order = 2;
  readonly stochastic = false;

  private pending: FirstOrderState | undefined;

  constructor(config: unknown) {
    super(parseSchedulerConfig(heunConfigSchema, config, CLASS));
    checkSigmaSpacing(CLASS, this.config);
    // diffusers initialises with every training step as the schedule.
    this.setTimesteps(this.config.num_train_timesteps);
  }

  setTimesteps(steps: number): void {
    const { timesteps, sigmas } = discreteSigmaSchedule(this.config, this.alphasCumprod, steps, { float32Linspace: true });
    // Every timestep after the first twice, like the sigmas.
    this.sigmas = interleavedSigmas(sigmas);
    this.timesteps = [timesteps[0], ...timesteps.slice(1).flatMap((t) => [t, t])].map(Math.fround);
    this.pending = undefined;
    this.stepIndex.reset();
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
}

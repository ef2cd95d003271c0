// diffusers' DDPMScheduler (Ho et al. 2020): ancestral sampling of the posterior q(x_{t−1} | x_t,
// x̂₀), with fresh noise from the job's generator at every step but the last.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { clamp, drawNoise, linearCombination } from './elementwise.js';
import { alphaProdAt, ddpmAddNoise, noiseSchedule, spacedTimesteps } from './noise-schedule.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

const CLASS = 'DDPMScheduler';
const f32 = Math.fround;

const ddpmConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'leading' }),
  variance_type: z.enum(['fixed_small', 'fixed_small_log', 'fixed_large', 'fixed_large_log', 'learned', 'learned_range']).default('fixed_small'),
  clip_sample: z.boolean().default(true),
  clip_sample_range: z.number().positive().default(1),
  prediction_type: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
  thresholding: z.boolean().default(false),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type DdpmConfig = z.output<typeof ddpmConfigSchema>;

export class DdpmScheduler implements Scheduler<DdpmConfig> {
  readonly name = 'ddpm';
  readonly config: Readonly<DdpmConfig>;
  readonly order = 1;
  readonly stochastic = true;
  readonly initNoiseSigma = 1;
  timesteps: number[];

  private readonly alphasCumprod: Float32Array;
  /** Unset until setTimesteps: then every training step is a step (t − 1 follows t). */
  private numInferenceSteps: number | undefined;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(ddpmConfigSchema, config, CLASS);
    const c = this.config;
    if (c.thresholding) unsupportedOption(CLASS, 'thresholding', 'dynamic thresholding is for pixel-space models');
    if (c.variance_type === 'learned' || c.variance_type === 'learned_range') {
      unsupportedOption(CLASS, `variance_type ${c.variance_type}`, 'it needs a UNet that predicts variance');
    }
    this.alphasCumprod = noiseSchedule(c).alphasCumprod;
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  setTimesteps(steps: number): void {
    const { num_train_timesteps: trainSteps, timestep_spacing, steps_offset } = this.config;
    if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
      throw new RangeError(`DDPM: steps must be an integer from 1 to the ${trainSteps} training timesteps, got ${steps}`);
    }
    this.numInferenceSteps = steps;
    this.timesteps = spacedTimesteps(timestep_spacing, trainSteps, steps, steps_offset, { roundLinspace: true });
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** diffusers' previous_timestep: the next entry of the schedule, −1 after the last. */
  previousTimestep(t: number): number {
    if (this.numInferenceSteps === undefined) return t - 1;
    const index = this.timesteps.indexOf(t);
    if (index < 0) throw new RangeError(`Timestep ${t} is not in the scheduler's timesteps; pass one of scheduler.timesteps`);
    return index === this.timesteps.length - 1 ? -1 : this.timesteps[index + 1];
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    const { alphaProd, alphaProdPrev, currentAlpha, currentBeta } = this.alphas(t);
    const betaProd = f32(1 - alphaProd);
    const betaProdPrev = f32(1 - alphaProdPrev);

    // Formula (15) of the DDPM paper: x̂₀ from the model output.
    let predOriginal: Float32Array;
    switch (this.config.prediction_type) {
      case 'epsilon':
        predOriginal = linearCombination([1 / Math.sqrt(alphaProd), sample], [-Math.sqrt(betaProd) / Math.sqrt(alphaProd), modelOutput]);
        break;
      case 'sample':
        predOriginal = modelOutput.slice();
        break;
      case 'v_prediction':
        predOriginal = linearCombination([Math.sqrt(alphaProd), sample], [-Math.sqrt(betaProd), modelOutput]);
        break;
    }
    if (this.config.clip_sample) predOriginal = clamp(predOriginal, this.config.clip_sample_range);

    // Formula (7): the posterior mean µ̃_t(x_t, x̂₀), plus σ_t z except at t = 0.
    const originalCoeff = f32(f32(f32(Math.sqrt(alphaProdPrev)) * currentBeta) / betaProd);
    const sampleCoeff = f32(f32(f32(Math.sqrt(currentAlpha)) * betaProdPrev) / betaProd);
    let prevSample: Float32Array;
    if (t > 0) {
      const noise = drawNoise(generator, modelOutput.length, 'DDPM');
      const std = f32(Math.sqrt(this.variance(t)));
      prevSample = linearCombination([originalCoeff, predOriginal], [sampleCoeff, sample], [std, noise]);
    } else {
      prevSample = linearCombination([originalCoeff, predOriginal], [sampleCoeff, sample]);
    }
    return { prevSample, predOriginalSample: predOriginal };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, t);
  }

  /**
   * diffusers' _get_variance for the fixed types: the posterior variance β̃_t (clamped), or β_t for
   * fixed_large. The *_log types only change how diffusers stores it; for fixed_large_log it then
   * takes the square root of log β (NaN), so this uses that type's intent, sqrt(β_t), as GLIDE does.
   */
  variance(t: number): number {
    const { alphaProd, alphaProdPrev, currentBeta } = this.alphas(t);
    if (this.config.variance_type.startsWith('fixed_large')) return currentBeta;
    return Math.max(f32(f32(f32(1 - alphaProdPrev) / f32(1 - alphaProd)) * currentBeta), 1e-20);
  }

  /**
   * ᾱ_t, ᾱ_prev and the step's own α and β. torch computes these scalars in float32, and near
   * t = 0 β = 1 − ᾱ_t / ᾱ_prev keeps only a few digits after that rounding; diffusers' results
   * (and its test values) carry it, so the same rounding is applied here.
   */
  private alphas(t: number) {
    const prevT = this.previousTimestep(t);
    const alphaProd = alphaProdAt(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? alphaProdAt(this.alphasCumprod, prevT) : 1;
    const currentAlpha = f32(alphaProd / alphaProdPrev);
    return { alphaProd, alphaProdPrev, currentAlpha, currentBeta: f32(1 - currentAlpha) };
  }
}

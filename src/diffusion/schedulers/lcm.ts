// diffusers' LCMScheduler (latent consistency models, Luo et al. 2023): each step jumps to a
// clean-latent estimate through the consistency boundary condition, then re-noises it to the
// next timestep with fresh noise from the job's generator.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { clamp, drawNoise, linearCombination } from './elementwise.js';
import { alphaProdAt, ddpmAddNoise, linspace, noiseSchedule } from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

const lcmConfigSchema = z.object({
  // LCM's schedule is fixed by original_inference_steps: timestep_spacing is read but unused.
  ...noiseScheduleFields({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', timestep_spacing: 'leading' }),
  original_inference_steps: z.number().int().positive().default(50),
  clip_sample: z.boolean().default(false),
  clip_sample_range: z.number().positive().default(1),
  set_alpha_to_one: z.boolean().default(true),
  prediction_type: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
  thresholding: z.boolean().default(false),
  timestep_scaling: z.number().default(10),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type LcmConfig = z.output<typeof lcmConfigSchema>;

/** σ_data of the consistency-model parameterisation. */
const SIGMA_DATA = 0.5;

export class LcmScheduler implements Scheduler<LcmConfig> {
  readonly name = 'lcm';
  readonly config: Readonly<LcmConfig>;
  readonly order = 1;
  readonly stochastic = true;
  readonly initNoiseSigma = 1;
  timesteps: number[];

  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private readonly stepIndex = new StepIndex();
  private numInferenceSteps = 0;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(lcmConfigSchema, config, 'LCMScheduler');
    if (this.config.thresholding) {
      unsupportedOption('LCMScheduler', 'thresholding', 'dynamic thresholding is for pixel-space models');
    }
    this.alphasCumprod = noiseSchedule(this.config).alphasCumprod;
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    const n = this.config.num_train_timesteps;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
  }

  setTimesteps(steps: number): void {
    const { num_train_timesteps: trainSteps, original_inference_steps: originalSteps } = this.config;
    if (originalSteps > trainSteps) {
      throw new RangeError(`LCM: original_inference_steps ${originalSteps} exceeds the ${trainSteps} training timesteps`);
    }
    if (steps > originalSteps) {
      throw new RangeError(`LCM: ${steps} steps exceed original_inference_steps (${originalSteps}); use at most that many`);
    }
    // The distillation schedule: every k-th training step, k = trainSteps / originalSteps.
    const k = Math.floor(trainSteps / originalSteps);
    const origin = Array.from({ length: originalSteps }, (_, i) => (originalSteps - i) * k - 1);
    this.timesteps = linspace(0, origin.length, steps, false).map((x) => origin[Math.floor(x)]);
    this.numInferenceSteps = steps;
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    if (this.numInferenceSteps === 0) throw new Error('LCM: call setTimesteps() before step()');
    const index = this.stepIndex.current(this.timesteps, t);
    const isLast = index === this.numInferenceSteps - 1;
    const noise = isLast ? undefined : drawNoise(generator, modelOutput.length, 'LCM');
    const prevT = index + 1 < this.timesteps.length ? this.timesteps[index + 1] : t;

    const alphaProd = alphaProdAt(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? alphaProdAt(this.alphasCumprod, prevT) : this.finalAlphaCumprod;
    const betaProd = 1 - alphaProd;

    // Boundary condition: c_skip → 1 and c_out → 0 as t → 0, so f(x, 0) = x.
    const scaledT = t * this.config.timestep_scaling;
    const cSkip = SIGMA_DATA ** 2 / (scaledT ** 2 + SIGMA_DATA ** 2);
    const cOut = scaledT / Math.sqrt(scaledT ** 2 + SIGMA_DATA ** 2);

    let predOriginal: Float32Array;
    switch (this.config.prediction_type) {
      case 'epsilon':
        predOriginal = linearCombination([1 / Math.sqrt(alphaProd), sample], [-Math.sqrt(betaProd / alphaProd), modelOutput]);
        break;
      case 'sample':
        predOriginal = modelOutput;
        break;
      case 'v_prediction':
        predOriginal = linearCombination([Math.sqrt(alphaProd), sample], [-Math.sqrt(betaProd), modelOutput]);
        break;
    }
    if (this.config.clip_sample) predOriginal = clamp(predOriginal, this.config.clip_sample_range);

    const denoised = linearCombination([cOut, predOriginal], [cSkip, sample]);
    const prevSample = noise ? linearCombination([Math.sqrt(alphaProdPrev), denoised], [Math.sqrt(1 - alphaProdPrev), noise]) : denoised;
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: denoised };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, t);
  }
}

// diffusers' DDIMScheduler (Song et al. 2020): deterministic at eta = 0, with DDPM-like noise
// when eta > 0.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { clamp, drawNoise, linearCombination } from './elementwise.js';
import { alphaProdAt, ddpmAddNoise, noiseSchedule, spacedTimesteps } from './noise-schedule.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

const ddimConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'leading' }),
  clip_sample: z.boolean().default(true),
  clip_sample_range: z.number().positive().default(1),
  set_alpha_to_one: z.boolean().default(true),
  prediction_type: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
  thresholding: z.boolean().default(false),
  rescale_betas_zero_snr: z.boolean().default(false),
  /** The pipeline's `eta` (0 in diffusers' pipelines), carried here because step() has no options. */
  eta: z.number().min(0).default(0),
});
export type DdimConfig = z.output<typeof ddimConfigSchema>;

export class DdimScheduler implements Scheduler<DdimConfig> {
  readonly name = 'ddim';
  readonly config: Readonly<DdimConfig>;
  readonly order = 1;
  readonly stochastic: boolean;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];

  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private numInferenceSteps = 0;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(ddimConfigSchema, config, 'DDIMScheduler');
    if (this.config.thresholding) {
      unsupportedOption('DDIMScheduler', 'thresholding', 'dynamic thresholding is for pixel-space models');
    }
    this.alphasCumprod = noiseSchedule(this.config).alphasCumprod;
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    this.stochastic = this.config.eta > 0;
  }

  setTimesteps(steps: number): void {
    const { num_train_timesteps: trainSteps, timestep_spacing, steps_offset } = this.config;
    if (steps > trainSteps) {
      throw new RangeError(`DDIM: ${steps} steps exceed the ${trainSteps} training timesteps`);
    }
    this.numInferenceSteps = steps;
    this.timesteps = spacedTimesteps(timestep_spacing, trainSteps, steps, steps_offset, { roundLinspace: true });
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    if (this.numInferenceSteps === 0) throw new Error('DDIM: call setTimesteps() before step()');
    const { eta } = this.config;
    const prevT = t - Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
    const alphaProd = alphaProdAt(this.alphasCumprod, t);
    const alphaProdPrev = this.alphaProdPrev(prevT);
    const betaProd = 1 - alphaProd;

    // Formula (12) of the DDIM paper: predicted x_0 and the noise that goes with it.
    let predOriginal: Float32Array;
    let predEpsilon: Float32Array;
    switch (this.config.prediction_type) {
      case 'epsilon':
        predOriginal = linearCombination([1 / Math.sqrt(alphaProd), sample], [-Math.sqrt(betaProd / alphaProd), modelOutput]);
        predEpsilon = modelOutput;
        break;
      case 'sample':
        predOriginal = modelOutput;
        predEpsilon = linearCombination([1 / Math.sqrt(betaProd), sample], [-Math.sqrt(alphaProd / betaProd), modelOutput]);
        break;
      case 'v_prediction':
        predOriginal = linearCombination([Math.sqrt(alphaProd), sample], [-Math.sqrt(betaProd), modelOutput]);
        predEpsilon = linearCombination([Math.sqrt(alphaProd), modelOutput], [Math.sqrt(betaProd), sample]);
        break;
    }
    if (this.config.clip_sample) predOriginal = clamp(predOriginal, this.config.clip_sample_range);

    // Formula (16): σ_t, the noise DDIM re-injects; zero for eta = 0.
    const stdDev = eta * Math.sqrt(this.variance(t, prevT));
    let prevSample = linearCombination([Math.sqrt(alphaProdPrev), predOriginal], [Math.sqrt(1 - alphaProdPrev - stdDev ** 2), predEpsilon]);
    if (eta > 0) {
      const noise = drawNoise(generator, modelOutput.length, 'DDIM (eta > 0)');
      prevSample = linearCombination([1, prevSample], [stdDev, noise]);
    }
    return { prevSample, predOriginalSample: predOriginal };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, t);
  }

  /** diffusers' _get_variance: the DDPM posterior variance between t and prevT. */
  variance(t: number, prevT: number): number {
    const alphaProd = alphaProdAt(this.alphasCumprod, t);
    const alphaProdPrev = this.alphaProdPrev(prevT);
    return ((1 - alphaProdPrev) / (1 - alphaProd)) * (1 - alphaProd / alphaProdPrev);
  }

  private alphaProdPrev(prevT: number): number {
    return prevT >= 0 ? alphaProdAt(this.alphasCumprod, prevT) : this.finalAlphaCumprod;
  }
}

// diffusers' EulerAncestralDiscreteScheduler ("Euler a"): an Euler step down to σ_down, then
// fresh noise of size σ_up, so each step forgets part of the previous noise.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig } from './config.js';
import { drawNoise, linearCombination, scale } from './elementwise.js';
import { interpOnIndexGrid, noiseSchedule, spacedTimesteps, trainSigmas } from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

const eulerAncestralConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  // diffusers raises NotImplementedError for 'sample' in step(); reject it up front instead.
  prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type EulerAncestralConfig = z.output<typeof eulerAncestralConfigSchema>;

const ZERO_SNR_ALPHA_CUMPROD = 2 ** -24;

export class EulerAncestralScheduler implements Scheduler<EulerAncestralConfig> {
  readonly name = 'euler_a';
  readonly config: Readonly<EulerAncestralConfig>;
  readonly order = 1;
  readonly stochastic = true;
  timesteps: number[];
  sigmas: Float32Array;

  private readonly alphasCumprod: Float32Array;
  private readonly stepIndex = new StepIndex();

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(eulerAncestralConfigSchema, config, 'EulerAncestralDiscreteScheduler');
    const c = this.config;
    this.alphasCumprod = noiseSchedule(c).alphasCumprod;
    if (c.rescale_betas_zero_snr) this.alphasCumprod[this.alphasCumprod.length - 1] = ZERO_SNR_ALPHA_CUMPROD;
    this.sigmas = Float32Array.from([...trainSigmas(this.alphasCumprod).reverse(), 0]);
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  get initNoiseSigma(): number {
    const maxSigma = this.sigmas.reduce((m, s) => Math.max(m, s), 0);
    return this.config.timestep_spacing === 'leading' ? Math.fround(Math.sqrt(maxSigma ** 2 + 1)) : maxSigma;
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    const timesteps = spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset, {
      roundLinspace: false,
    });
    const train = trainSigmas(this.alphasCumprod);
    this.sigmas = Float32Array.from([...timesteps.map((t) => interpOnIndexGrid(t, train)), 0]);
    this.timesteps = timesteps.map(Math.fround);
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.current(this.timesteps, t)];
    return scale(sample, 1 / Math.sqrt(sigma ** 2 + 1));
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const sigma = this.sigmas[index];
    const sigmaNext = this.sigmas[index + 1];

    let predOriginal: Float32Array;
    switch (this.config.prediction_type) {
      case 'epsilon':
        predOriginal = linearCombination([1, sample], [-sigma, modelOutput]);
        break;
      case 'v_prediction':
        predOriginal = linearCombination([-sigma / Math.sqrt(sigma ** 2 + 1), modelOutput], [1 / (sigma ** 2 + 1), sample]);
        break;
    }
    // Split the move to σ_next into a deterministic part (to σ_down) and fresh noise (σ_up).
    const sigmaUp = Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2);
    const sigmaDown = Math.sqrt(Math.max(0, sigmaNext ** 2 - sigmaUp ** 2));
    const dt = sigmaDown - sigma;
    // Noise is drawn on the last step too (σ_up = 0 there), as diffusers does: same RNG stream.
    const noise = drawNoise(generator, modelOutput.length, 'Euler a');
    const prevSample = linearCombination([1 + dt / sigma, sample], [-dt / sigma, predOriginal], [sigmaUp, noise]);
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: predOriginal };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)];
    return linearCombination([1, original], [sigma, noise]);
  }
}

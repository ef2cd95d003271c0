// What the k-diffusion style schedulers (Euler, Euler a, Heun, LMS, DPM++ SDE) do alike around
// their own step(): latents are x₀ + σ ε, the UNet input is x / sqrt(σ² + 1), the position in
// the schedule is a StepIndex, and add_noise adds σ ε. diffusers copies these methods from class
// to class ("Copied from …"); here each class inherits them and keeps only its solver.
import type { SchedulerName } from '../types.js';
import type { CommonConfig } from './config.js';
import { initNoiseSigmaOf, scaleBySigma } from './discrete-sigmas.js';
import { linearCombination } from './elementwise.js';
import { finiteSigmaAlphasCumprod, trainSigmas, type NoiseScheduleConfig } from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

export type SigmaSchedulerConfig = CommonConfig & NoiseScheduleConfig;

export abstract class SigmaScheduler<C extends SigmaSchedulerConfig> implements Scheduler<C> {
  abstract readonly name: SchedulerName;
  abstract readonly order: number;
  abstract readonly stochastic: boolean;
  readonly config: Readonly<C>;
  timesteps: number[] = [];
  /** The σ of each timestep, then the σ the last step lands on (0 unless the config says otherwise). */
  sigmas: Float32Array = new Float32Array(0);

  protected readonly alphasCumprod: Float32Array;
  protected readonly stepIndex = new StepIndex();

  protected constructor(config: C) {
    this.config = config;
    this.alphasCumprod = finiteSigmaAlphasCumprod(config);
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.config.timestep_spacing, this.sigmas);
  }

  abstract setTimesteps(steps: number): void;
  abstract step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput;

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array, t: number, out?: Float32Array): Float32Array {
    return scaleBySigma(sample, this.sigmas[this.stepIndex.current(this.timesteps, t)], out);
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)];
    return linearCombination([1, original], [sigma, noise]);
  }

  /** The schedule before set_timesteps, as Euler's __init__ builds it: every training step. */
  protected useTrainingSchedule(): void {
    const n = this.config.num_train_timesteps;
    const train = trainSigmas(this.alphasCumprod);
    // Descending, then the final 0 (the array is one longer and starts zeroed).
    this.sigmas = new Float32Array(train.length + 1);
    for (let i = 0; i < train.length; i++) this.sigmas[i] = train[train.length - 1 - i];
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
  }
}

// The contract every scheduler implements: the diffusers scheduler API (set_timesteps,
// scale_model_input, step, add_noise) over flat Float32Array latents.
import type { SchedulerName } from '../types.js';
import type { BaseSchedulerConfig } from './config.js';

/** What a stochastic scheduler draws its noise from: torch.randn's stream for the job's seed. */
export interface NoiseGenerator {
  randn(n: number): Float32Array;
}

export interface StepOutput {
  prevSample: Float32Array;
  /** The model's current estimate of the clean latents (LCM: its `denoised`), for previews. */
  predOriginalSample?: Float32Array;
}

/**
 * One image's model output inside a classifier-free-guidance batch, read as diffusers combines
 * it: noise_pred = uncond + scale · (cond − uncond), each value rounded to float32 as torch
 * stores it. stepInto() reads it on the fly, so no noise_pred array is written and read back.
 */
export interface GuidedOutput {
  readonly batch: Float32Array;
  readonly uncondOffset: number;
  readonly condOffset: number;
  readonly scale: number;
}

/** What stepInto() reads: the model output itself, or a guided batch to combine as it goes. */
export type ModelOutput = Float32Array | GuidedOutput;

/** Caller-owned arrays that stepInto() writes the step's results into. */
export interface StepBuffers {
  prevSample: Float32Array;
  predOriginalSample: Float32Array;
}

/** Fresh buffers for one step: what step() returns on schedulers that also have stepInto(). */
export function freshStepBuffers(n: number): StepBuffers {
  return { prevSample: new Float32Array(n), predOriginalSample: new Float32Array(n) };
}

export interface Scheduler<C extends BaseSchedulerConfig = BaseSchedulerConfig> {
  readonly name: SchedulerName;
  readonly config: Readonly<C>;
  /**
   * diffusers' `order`: timestep entries (UNet calls) per step. 2 for Heun and DPM++ SDE, whose
   * `timesteps` list each step's second evaluation (N steps: 2N − 1 entries); 1 otherwise.
   * Image-to-image starts at entry t_start × order.
   */
  readonly order: number;
  /** True when step() draws noise and therefore needs a generator. */
  readonly stochastic: boolean;
  setTimesteps(steps: number): void;
  /** What to feed the UNet, in order; fractional for Karras-style Euler schedules. */
  timesteps: number[];
  /** Standard deviation of the initial noise: latents = randn × initNoiseSigma. */
  readonly initNoiseSigma: number;
  /**
   * Returns `sample` itself when the scheduler does not scale its input; otherwise the scaled
   * copy, written into `out` when given (the pipeline's UNet input buffer).
   */
  scaleModelInput(sample: Float32Array, t: number, out?: Float32Array): Float32Array;
  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput;
  /**
   * step() in one pass over the latents, with its results written into `into` (the same bits,
   * also from a GuidedOutput). Present only on schedulers that keep no reference to the model
   * output, the sample or their results between steps (Euler, Euler a, Flow Match Euler): the
   * caller may then reuse all of them, and a job allocates no latents per step.
   */
  stepInto?(modelOutput: ModelOutput, t: number, sample: Float32Array, into: StepBuffers, generator?: NoiseGenerator): StepOutput;
  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array;
  /**
   * diffusers' set_begin_index, on schedulers that track a step index: image-to-image starts
   * part-way through `timesteps`, and a repeated timestep would otherwise be looked up wrongly.
   */
  setBeginIndex?(index: number): void;
}

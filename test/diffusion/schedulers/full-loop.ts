// The full loop of diffusers' scheduler tests (full_loop, test_full_loop_with_noise), run the way
// a pipeline runs a scheduler: latents scaled by initNoiseSigma, the UNet input by
// scaleModelInput. Both are identities for the schedulers that do not scale (DDPM, DDIM, PNDM,
// DPM-Solver, UniPC, LCM), so this one harness serves every scheduler's parity tests.
import { TorchGenerator } from '../../../src/diffusion/rng.js';
import { createScheduler, type Scheduler, type SchedulerConfig } from '../../../src/diffusion/schedulers/index.js';
import type { NoiseGenerator } from '../../../src/diffusion/schedulers/types.js';
import type { SchedulerName } from '../../../src/diffusion/types.js';
import { dummyModel, dummyNoiseDeter, dummySampleDeter } from './diffusers-fixtures.js';

export interface FullLoopOptions {
  /** setTimesteps(steps) first; null keeps the schedule the constructor built (DDPM: every training step). */
  steps?: number | null;
  /** test_full_loop_with_noise: start at timesteps[tStart × order], after add_noise of dummy_noise_deter there. */
  tStart?: number;
  /** torch.manual_seed(seed): stochastic schedulers draw from a TorchGenerator made for this run. */
  seed?: number;
  /** Or the noise source itself (ignored when `seed` is set). */
  generator?: NoiseGenerator;
}

/** Denoises dummy_sample_deter with dummy_model; what step() receives is the scaled sample, as in diffusers' tests. */
export function runFullLoop(scheduler: Scheduler, { steps = 10, tStart, seed, generator }: FullLoopOptions = {}): Float32Array {
  if (steps !== null) scheduler.setTimesteps(steps);
  const noise = seed === undefined ? generator : new TorchGenerator(seed);
  let sample: Float32Array = dummySampleDeter().map((v) => v * scheduler.initNoiseSigma);
  let timesteps = scheduler.timesteps;
  if (tStart !== undefined) {
    timesteps = timesteps.slice(tStart * scheduler.order);
    sample = scheduler.addNoise(sample, dummyNoiseDeter(), timesteps[0]);
  }
  for (const t of timesteps) {
    sample = scheduler.scaleModelInput(sample, t);
    sample = scheduler.step(dummyModel(sample, t), t, sample, noise).prevSample;
  }
  return sample;
}

/** A test file's full_loop: its scheduler, get_scheduler_config and loop options, with per-test overrides of both. */
export function fullLoopOf(name: SchedulerName, testConfig: Partial<SchedulerConfig>, defaults: FullLoopOptions = {}) {
  return (overrides: Record<string, unknown> = {}, options: FullLoopOptions = {}): Float32Array =>
    runFullLoop(createScheduler(name, { ...testConfig, ...overrides }), { ...defaults, ...options });
}

/** A generator of zero noise that records the size of every draw. */
export function recordingZeroNoise(): { generator: NoiseGenerator; draws: number[] } {
  const draws: number[] = [];
  const randn = (n: number) => {
    draws.push(n);
    return new Float32Array(n);
  };
  return { generator: { randn }, draws };
}

// Mirrors diffusers tests/schedulers/test_scheduler_lcm.py (LCMSchedulerTest);
// torch.manual_seed(0) → new TorchGenerator(0).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TorchGenerator } from '../../../src/diffusion/rng.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean, dummyModel, dummySampleDeter } from './diffusers-fixtures.js';
import { fullLoopOf } from './full-loop.js';

const testConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  prediction_type: 'epsilon',
} as const;

/** LCMSchedulerTest.full_loop */
const fullLoop = fullLoopOf('lcm', testConfig, { seed: 0 });

describe('LCM full loop (diffusers parity)', () => {
  it('test_full_loop_onestep', () => assertSumAndMean(fullLoop({}, { steps: 1 }), 18.7097, 0.0244, 1e-3, 1e-3));
  it('test_full_loop_multistep', () => assertSumAndMean(fullLoop({}, { steps: 10 }), 197.7616, 0.2575, 1e-3, 1e-3));
});

describe('LCM schedule', () => {
  it('timesteps are a subset of the 50-step distillation schedule (999, 979, … 19)', () => {
    const scheduler = createScheduler('lcm', testConfig);
    scheduler.setTimesteps(4);
    assert.deepEqual(scheduler.timesteps, [999, 759, 499, 259]);
    scheduler.setTimesteps(1);
    assert.deepEqual(scheduler.timesteps, [999]);
    scheduler.setTimesteps(50);
    assert.equal(scheduler.timesteps.at(-1), 19);
  });

  it('original_inference_steps changes the grid; more steps than it is an error', () => {
    const scheduler = createScheduler('lcm', { ...testConfig, original_inference_steps: 100 });
    scheduler.setTimesteps(4);
    assert.deepEqual(scheduler.timesteps, [999, 749, 499, 249]);
    assert.throws(() => createScheduler('lcm', testConfig).setTimesteps(51), /original_inference_steps/);
  });

  it('timestep_scaling sets the boundary condition: with scaling 0 a step returns x̂₀ re-noised', () => {
    const scheduler = createScheduler('lcm', { ...testConfig, timestep_scaling: 0 });
    scheduler.setTimesteps(1);
    const sample = dummySampleDeter();
    // c_skip = 1, c_out = 0 at scaled timestep 0: the sample passes through unchanged.
    const out = scheduler.step(dummyModel(sample, 999), 999, sample, new TorchGenerator(0));
    assert.deepEqual(out.prevSample, sample);
  });

  it('needs a generator between steps', () => {
    const scheduler = createScheduler('lcm', testConfig);
    scheduler.setTimesteps(4);
    const sample = dummySampleDeter();
    assert.throws(() => scheduler.step(sample, 999, sample), /TorchGenerator/);
  });
});

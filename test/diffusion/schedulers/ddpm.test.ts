// Mirrors diffusers tests/schedulers/test_scheduler_ddpm.py (DDPMSchedulerTest);
// torch.manual_seed(0) → new TorchGenerator(0).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DdpmScheduler } from '../../../src/diffusion/schedulers/ddpm.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean, dummyModel } from './diffusers-fixtures.js';
import { fullLoopOf, recordingZeroNoise, runFullLoop } from './full-loop.js';

const testConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  variance_type: 'fixed_small',
  clip_sample: true,
} as const;

/**
 * DDPMSchedulerTest.test_full_loop_*: every one of the 1000 training steps without
 * set_timesteps, noise from torch.manual_seed(0) at each step but t = 0. With `tStart`, as
 * test_full_loop_with_noise: add_noise at timesteps[tStart], then the rest.
 */
const fullLoop = fullLoopOf('ddpm', testConfig, { steps: null, seed: 0 });

describe('DDPM full loop (diffusers parity, 999 draws of torch.randn)', () => {
  it('test_full_loop_no_noise', () => assertSumAndMean(fullLoop(), 258.9606, 0.3372));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 202.0296, 0.2631));
  it('test_full_loop_with_noise: add_noise at t = 1, then t = 1, 0', () => assertSumAndMean(fullLoop({}, { tStart: 998 }), 387.9466, 0.5051));
});

describe('DDPM', () => {
  it('test_variance: _get_variance values', () => {
    const scheduler = new DdpmScheduler(testConfig);
    for (const [t, expected] of [
      [0, 0],
      [487, 0.00979],
      [999, 0.02],
    ] as const) {
      assert.ok(Math.abs(scheduler.variance(t) - expected) < 1e-5, `variance(${t}) = ${scheduler.variance(t)}`);
    }
    const large = new DdpmScheduler({ ...testConfig, variance_type: 'fixed_large' });
    assert.ok(Math.abs(large.variance(999) - 0.02) < 1e-6, 'fixed_large is β_t');
  });

  it('leading spacing with steps_offset; previous timestep is the next schedule entry, −1 after the last', () => {
    const scheduler = createScheduler('ddpm', { ...testConfig, steps_offset: 1 }) as DdpmScheduler;
    scheduler.setTimesteps(5);
    assert.deepEqual(scheduler.timesteps, [801, 601, 401, 201, 1]);
    assert.equal(scheduler.previousTimestep(801), 601);
    assert.equal(scheduler.previousTimestep(1), -1);
    assert.throws(() => scheduler.previousTimestep(500), /not in the scheduler's timesteps/);
  });

  it('draws one randn of the whole tensor per step, none at t = 0', () => {
    const scheduler = createScheduler('ddpm', testConfig);
    assert.equal(scheduler.stochastic, true);
    scheduler.setTimesteps(4);
    assert.deepEqual(scheduler.timesteps, [750, 500, 250, 0]);
    const { generator, draws } = recordingZeroNoise();
    const sample = runFullLoop(scheduler, { steps: 4, generator });
    assert.deepEqual(draws, [768, 768, 768]);
    assert.throws(() => {
      scheduler.setTimesteps(4);
      scheduler.step(dummyModel(sample, 750), 750, sample);
    }, /TorchGenerator/);
  });

  it('same seed, same result; another seed, another result', () => {
    const run = (seed: number) => runFullLoop(createScheduler('ddpm', testConfig), { seed });
    assert.deepEqual(run(5), run(5));
    assert.notDeepEqual(run(5), run(6));
  });

  it('rejects too many steps and what needs another UNet or pixel space', () => {
    assert.throws(() => createScheduler('ddpm', testConfig).setTimesteps(1001), /1 to the 1000 training timesteps/);
    assert.throws(() => createScheduler('ddpm', { variance_type: 'learned_range' }), /predicts variance/);
    assert.throws(() => createScheduler('ddpm', { thresholding: true }), /thresholding is not supported/);
  });
});

// Mirrors diffusers tests/schedulers/test_scheduler_euler_ancestral.py
// (EulerAncestralDiscreteSchedulerTest); torch.manual_seed(0) → new TorchGenerator(0).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean, dummyModel, dummySampleDeter } from './diffusers-fixtures.js';
import { fullLoopOf, recordingZeroNoise, runFullLoop } from './full-loop.js';

const testConfig = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;

/** EulerAncestralDiscreteSchedulerTest.full_loop: 10 steps, torch.manual_seed(0). */
const fullLoop = fullLoopOf('euler_a', testConfig, { seed: 0 });

describe('Euler ancestral full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise / test_full_loop_device', () => assertSumAndMean(fullLoop(), 152.3192, 0.1983));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 108.4439, 0.1412));
  it('test_full_loop_with_noise: img2img from timesteps[8:]', () => assertSumAndMean(fullLoop({}, { tStart: 8 }), 56163.0508, 73.129));
});

describe('Euler ancestral', () => {
  it('is stochastic and needs a generator', () => {
    const scheduler = createScheduler('euler_a', testConfig);
    assert.equal(scheduler.stochastic, true);
    scheduler.setTimesteps(10);
    const sample = dummySampleDeter();
    const t = scheduler.timesteps[0];
    assert.throws(() => scheduler.step(dummyModel(sample, t), t, sample), /TorchGenerator/);
  });

  it('same seed, same result; another seed, another result', () => {
    const run = (seed: number) => runFullLoop(createScheduler('euler_a', testConfig), { steps: 5, seed });
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  it('draws one randn of the whole tensor per step, the last step included', () => {
    const { generator, draws } = recordingZeroNoise();
    runFullLoop(createScheduler('euler_a', testConfig), { steps: 4, generator });
    assert.deepEqual(draws, [768, 768, 768, 768]);
  });
});

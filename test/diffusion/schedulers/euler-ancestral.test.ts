// Mirrors diffusers tests/schedulers/test_scheduler_euler_ancestral.py
// (EulerAncestralDiscreteSchedulerTest); torch.manual_seed(0) → new TorchGenerator(0).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TorchGenerator } from '../../../src/diffusion/rng.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean, dummyModel, dummyNoiseDeter, dummySampleDeter } from './diffusers-fixtures.js';

const testConfig = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;

function fullLoop(overrides: Record<string, unknown> = {}, tStart = 0, noise?: Float32Array): Float32Array {
  const scheduler = createScheduler('euler_a', { ...testConfig, ...overrides });
  scheduler.setTimesteps(10);
  const generator = new TorchGenerator(0);
  let sample: Float32Array = dummySampleDeter().map((v) => v * scheduler.initNoiseSigma);
  const timesteps = scheduler.timesteps.slice(tStart * scheduler.order);
  if (noise) sample = scheduler.addNoise(sample, noise, timesteps[0]);
  for (const t of timesteps) {
    sample = scheduler.scaleModelInput(sample, t);
    sample = scheduler.step(dummyModel(sample, t), t, sample, generator).prevSample;
  }
  return sample;
}

describe('Euler ancestral full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise / test_full_loop_device', () => assertSumAndMean(fullLoop(), 152.3192, 0.1983));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 108.4439, 0.1412));
  it('test_full_loop_with_noise: img2img from timesteps[8:]', () =>
    assertSumAndMean(fullLoop({}, 8, dummyNoiseDeter()), 56163.0508, 73.129));
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
    const run = (seed: number) => {
      const scheduler = createScheduler('euler_a', testConfig);
      scheduler.setTimesteps(5);
      const generator = new TorchGenerator(seed);
      let sample = dummySampleDeter();
      for (const t of scheduler.timesteps) sample = scheduler.step(dummyModel(sample, t), t, sample, generator).prevSample;
      return sample;
    };
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  it('draws one randn of the whole tensor per step, the last step included', () => {
    const scheduler = createScheduler('euler_a', testConfig);
    scheduler.setTimesteps(4);
    const draws: number[] = [];
    const generator = { randn: (n: number) => (draws.push(n), new Float32Array(n)) };
    let sample = dummySampleDeter();
    for (const t of scheduler.timesteps) sample = scheduler.step(dummyModel(sample, t), t, sample, generator).prevSample;
    assert.deepEqual(draws, [768, 768, 768, 768]);
  });
});

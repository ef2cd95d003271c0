// Mirrors diffusers tests/schedulers/test_scheduler_ddim.py (DDIMSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DdimScheduler } from '../../../src/diffusion/schedulers/ddim.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean, dummyModel, dummySampleDeter } from './diffusers-fixtures.js';
import { fullLoopOf } from './full-loop.js';

const testConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  clip_sample: true,
} as const;

/** DDIMSchedulerTest.full_loop: 10 steps, eta 0. */
const fullLoop = fullLoopOf('ddim', testConfig);

describe('DDIM full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise', () => assertSumAndMean(fullLoop(), 172.0067, 0.223967));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 52.5302, 0.0684));
  it('test_full_loop_with_set_alpha_to_one', () => assertSumAndMean(fullLoop({ set_alpha_to_one: true, beta_start: 0.01 }), 149.8295, 0.1951));
  it('test_full_loop_with_no_set_alpha_to_one', () => assertSumAndMean(fullLoop({ set_alpha_to_one: false, beta_start: 0.01 }), 149.0784, 0.1941));

  it('test_full_loop_with_noise: img2img from timesteps[8:]', () => assertSumAndMean(fullLoop({}, { tStart: 8 }), 354.5418, 0.4616));
});

describe('DDIM schedule', () => {
  it('test_steps_offset: leading, 5 steps, offset 1 → 801 601 401 201 1', () => {
    const scheduler = createScheduler('ddim', { ...testConfig, steps_offset: 1 });
    scheduler.setTimesteps(5);
    assert.deepEqual(scheduler.timesteps, [801, 601, 401, 201, 1]);
  });

  it('trailing and linspace spacing', () => {
    const trailing = createScheduler('ddim', { timestep_spacing: 'trailing' });
    trailing.setTimesteps(5);
    assert.deepEqual(trailing.timesteps, [999, 799, 599, 399, 199]);
    // 1000 / 16 = 62.5: np.arange(1000, 0, -62.5).round() rounds 937.5 → 938, 812.5 → 812.
    trailing.setTimesteps(16);
    assert.deepEqual(trailing.timesteps.slice(0, 4), [999, 937, 874, 811]);
    const linspace = createScheduler('ddim', { timestep_spacing: 'linspace' });
    linspace.setTimesteps(4);
    assert.deepEqual(linspace.timesteps, [999, 666, 333, 0]);
  });

  it('test_variance: _get_variance values', () => {
    const scheduler = new DdimScheduler(testConfig);
    const cases: [number, number, number][] = [
      [0, 0, 0],
      [420, 400, 0.14771],
      [980, 960, 0.3246],
      [487, 486, 0.00979],
      [999, 998, 0.02],
    ];
    for (const [t, prev, expected] of cases) {
      assert.ok(Math.abs(scheduler.variance(t, prev) - expected) < 1e-5, `variance(${t}, ${prev})`);
    }
  });

  it('rejects more steps than training timesteps and unsupported thresholding', () => {
    assert.throws(() => createScheduler('ddim', testConfig).setTimesteps(1001), /exceed/);
    assert.throws(() => createScheduler('ddim', { thresholding: true }), /thresholding is not supported/);
  });

  it('eta > 0 draws noise and needs a generator', () => {
    const scheduler = createScheduler('ddim', { ...testConfig, eta: 1 });
    assert.equal(scheduler.stochastic, true);
    scheduler.setTimesteps(10);
    const sample = dummySampleDeter();
    const t = scheduler.timesteps[0];
    assert.throws(() => scheduler.step(dummyModel(sample, t), t, sample), /TorchGenerator/);
    const ones = { randn: (n: number) => new Float32Array(n).fill(1) };
    const zeros = { randn: (n: number) => new Float32Array(n) };
    const a = scheduler.step(dummyModel(sample, t), t, sample, ones).prevSample;
    scheduler.setTimesteps(10);
    const b = scheduler.step(dummyModel(sample, t), t, sample, zeros).prevSample;
    // The difference is σ_t × noise, σ_t = eta · sqrt(variance(t, t − 100)).
    const sigma = Math.sqrt((scheduler as DdimScheduler).variance(t, t - 100));
    assert.ok(Math.abs(a[0] - b[0] - sigma) < 1e-5);
  });
});

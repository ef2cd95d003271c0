// Mirrors diffusers tests/schedulers/test_scheduler_heun.py (HeunDiscreteSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeunScheduler } from '../../../src/diffusion/schedulers/heun.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean } from './diffusers-fixtures.js';
import { fullLoopOf } from './full-loop.js';

const testConfig = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;

/** HeunDiscreteSchedulerTest.full_loop: 10 steps; the scaled sample is what step() receives. */
const fullLoop = fullLoopOf('heun', testConfig);

describe('Heun full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise / test_full_loop_device', () => assertSumAndMean(fullLoop(), 0.1233, 0.0002));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 4.6934e-7, 6.1112e-10));
  it('test_full_loop_device_karras_sigmas', () => assertSumAndMean(fullLoop({ use_karras_sigmas: true }), 0.00015, 1.9869554535034695e-7, 1e-2, 1e-2));
  it('test_full_loop_with_noise: img2img from timesteps[8 × order:]', () => assertSumAndMean(fullLoop({}, { tStart: 8 }), 75074.8906, 97.7538));
});

describe('Heun schedule', () => {
  it('order 2: every timestep after the first twice, sigmas likewise, ending at 0', () => {
    const scheduler = createScheduler('heun', testConfig) as HeunScheduler;
    scheduler.setTimesteps(4);
    assert.equal(scheduler.order, 2);
    // np.linspace(0, 1099, 4, dtype=float32)[::-1] = 1099, 732.666…, 366.333…, 0
    assert.deepEqual(scheduler.timesteps, [1099, 732.6666870117188, 732.6666870117188, 366.3333435058594, 366.3333435058594, 0, 0]);
    assert.equal(scheduler.sigmas.length, 8);
    assert.equal(scheduler.sigmas[1], scheduler.sigmas[2]);
    assert.equal(scheduler.sigmas[7], 0);
  });

  it('first half is an Euler step; the second averages both slopes from the step’s start', () => {
    const scheduler = createScheduler('heun', { ...testConfig, prediction_type: 'sample' }) as HeunScheduler;
    scheduler.setTimesteps(3);
    const [t0, t1] = scheduler.timesteps;
    const [s0, s1] = scheduler.sigmas;
    const x = new Float32Array([3]);
    // prediction_type 'sample': the model output is x̂₀ itself.
    const euler = scheduler.step(new Float32Array([1]), t0, x).prevSample;
    const d0 = (3 - 1) / s0;
    assert.ok(Math.abs(euler[0] - (3 + d0 * (s1 - s0))) < 1e-4);
    const heun = scheduler.step(new Float32Array([0.5]), t1, euler).prevSample;
    const d1 = (euler[0] - 0.5) / s1;
    assert.ok(Math.abs(heun[0] - (3 + ((d0 + d1) / 2) * (s1 - s0))) < 1e-4);
  });

  it('scaleModelInput divides by sqrt(σ² + 1) of the current half-step', () => {
    const scheduler = createScheduler('heun', testConfig) as HeunScheduler;
    scheduler.setTimesteps(5);
    const x = new Float32Array([2]);
    const t0 = scheduler.timesteps[0];
    assert.ok(Math.abs(scheduler.scaleModelInput(x, t0)[0] - 2 / Math.sqrt(scheduler.sigmas[0] ** 2 + 1)) < 1e-6);
  });

  it('leading spacing: init noise sigma is sqrt(σ_max² + 1)', () => {
    const scheduler = createScheduler('heun', { ...testConfig, timestep_spacing: 'leading' }) as HeunScheduler;
    scheduler.setTimesteps(10);
    assert.ok(Math.abs(scheduler.initNoiseSigma - Math.sqrt(scheduler.sigmas[0] ** 2 + 1)) < 1e-4);
  });
});

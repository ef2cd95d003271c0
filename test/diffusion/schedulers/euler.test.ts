// Mirrors diffusers tests/schedulers/test_scheduler_euler.py (EulerDiscreteSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EulerScheduler } from '../../../src/diffusion/schedulers/euler.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean } from './diffusers-fixtures.js';
import { fullLoopOf } from './full-loop.js';

const testConfig = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;
const sdConfig = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 } as const;

/**
 * EulerDiscreteSchedulerTest.full_loop (and test_full_loop_device*): 10 steps. As in diffusers'
 * test, the scaled sample is what step() receives.
 */
const fullLoop = fullLoopOf('euler', testConfig);

describe('Euler full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise / test_full_loop_device', () => assertSumAndMean(fullLoop(), 10.0807, 0.0131));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 0.0002, 2.2676e-6));
  it('test_full_loop_device_karras_sigmas', () => assertSumAndMean(fullLoop({ use_karras_sigmas: true }), 124.52299499511719, 0.16213932633399963));
  it('test_full_loop_with_noise: img2img from timesteps[8:]', () => assertSumAndMean(fullLoop({}, { tStart: 8 }), 57062.9297, 74.3007));
});

describe('Euler schedule', () => {
  it('linspace timesteps are fractional float32 values', () => {
    const scheduler = createScheduler('euler', testConfig);
    scheduler.setTimesteps(10);
    // np.linspace(0, 1099, 10, dtype=np.float32)[::-1]
    assert.deepEqual(
      scheduler.timesteps,
      [
        1099, 976.888916015625, 854.7777709960938, 732.6666870117188, 610.5555419921875, 488.4444580078125, 366.3333435058594, 244.22222900390625,
        122.11111450195312, 0,
      ],
    );
  });

  it('Stable Diffusion: init noise sigma 14.6146 (linspace) and sqrt(σ² + 1) with leading spacing', () => {
    const linspace = createScheduler('euler', sdConfig);
    linspace.setTimesteps(30);
    assert.ok(Math.abs(linspace.initNoiseSigma - 14.614642) < 1e-5);
    const leading = createScheduler('euler', { ...sdConfig, timestep_spacing: 'leading', steps_offset: 1 }) as EulerScheduler;
    leading.setTimesteps(50);
    assert.deepEqual(leading.timesteps.slice(0, 3), [981, 961, 941]);
    assert.equal(leading.timesteps.at(-1), 1);
    const top = leading.sigmas[0];
    assert.ok(Math.abs(leading.initNoiseSigma - Math.sqrt(top * top + 1)) < 1e-5);
  });

  it('sigmas end at 0 (or σ_min with final_sigmas_type sigma_min)', () => {
    const zero = createScheduler('euler', sdConfig) as EulerScheduler;
    zero.setTimesteps(20);
    assert.equal(zero.sigmas.length, 21);
    assert.equal(zero.sigmas[20], 0);
    const sigmaMin = createScheduler('euler', { ...sdConfig, final_sigmas_type: 'sigma_min' }) as EulerScheduler;
    sigmaMin.setTimesteps(20);
    assert.ok(Math.abs(sigmaMin.sigmas[20] - 0.0291675) < 1e-6);
  });

  it('Karras sigmas: endpoints are the schedule’s σ_max and σ_min, timesteps fractional', () => {
    const scheduler = createScheduler('euler', { ...sdConfig, use_karras_sigmas: true }) as EulerScheduler;
    scheduler.setTimesteps(25);
    assert.ok(Math.abs(scheduler.sigmas[0] - 14.614642) < 1e-4);
    assert.ok(Math.abs(scheduler.sigmas[24] - 0.0291675) < 1e-6);
    assert.ok(Math.abs(scheduler.timesteps[0] - 999) < 1e-3);
    assert.ok(Math.abs(scheduler.timesteps[24]) < 1e-3);
    assert.ok(scheduler.timesteps.some((t) => !Number.isInteger(t)));
  });

  it('scaleModelInput divides by sqrt(σ² + 1); a foreign timestep is rejected', () => {
    const scheduler = createScheduler('euler', sdConfig) as EulerScheduler;
    scheduler.setTimesteps(10);
    const scaled = scheduler.scaleModelInput(new Float32Array([2]), scheduler.timesteps[0]);
    assert.ok(Math.abs(scaled[0] - 2 / Math.sqrt(scheduler.sigmas[0] ** 2 + 1)) < 1e-6);
    const fresh = createScheduler('euler', sdConfig);
    fresh.setTimesteps(10);
    assert.throws(() => fresh.scaleModelInput(new Float32Array(1), 123.5), /not in the scheduler's timesteps/);
  });

  it('continuous timesteps for v-prediction are 0.25 · log σ', () => {
    const scheduler = createScheduler('euler', { ...sdConfig, prediction_type: 'v_prediction', timestep_type: 'continuous' }) as EulerScheduler;
    scheduler.setTimesteps(5);
    assert.ok(Math.abs(scheduler.timesteps[0] - 0.25 * Math.log(scheduler.sigmas[0])) < 1e-6);
  });

  it('rejects use_beta_sigmas and two sigma schedules at once', () => {
    assert.throws(() => createScheduler('euler', { use_beta_sigmas: true }), /use_beta_sigmas is not supported/);
    assert.throws(() => createScheduler('euler', { use_karras_sigmas: true, use_exponential_sigmas: true }), /only one/);
  });
});

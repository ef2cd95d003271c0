// Mirrors diffusers tests/schedulers/test_scheduler_pndm.py (PNDMSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { PndmScheduler } from '../../../src/diffusion/schedulers/pndm.js';
import { assertSumAndMean, dummySampleDeter } from './diffusers-fixtures.js';
import { fullLoopOf, runFullLoop } from './full-loop.js';

const testConfig = { num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;

/** PNDMSchedulerTest.full_loop: 10 steps, 12 PRK evaluations then PLMS. */
const fullLoop = fullLoopOf('pndm', testConfig);

describe('PNDM full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise', () => assertSumAndMean(fullLoop(), 198.1318, 0.258));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 67.3986, 0.0878));
  it('test_full_loop_with_set_alpha_to_one', () => assertSumAndMean(fullLoop({ set_alpha_to_one: true, beta_start: 0.01 }), 230.0399, 0.2995));
  it('test_full_loop_with_no_set_alpha_to_one', () => assertSumAndMean(fullLoop({ set_alpha_to_one: false, beta_start: 0.01 }), 186.9482, 0.2434));
});

describe('PNDM timesteps', () => {
  it('test_steps_offset: PRK then PLMS timesteps for 10 steps, steps_offset 1', () => {
    const scheduler = createScheduler('pndm', { ...testConfig, steps_offset: 1 });
    scheduler.setTimesteps(10);
    assert.deepEqual(scheduler.timesteps, [901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1]);
  });

  it('Stable Diffusion 1.x config (skip_prk_steps, steps_offset 1, leading): 981, 961, 961, 941 … 1', () => {
    const scheduler = createScheduler('pndm', {
      _class_name: 'PNDMScheduler',
      beta_start: 0.00085,
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      trained_betas: null,
      clip_sample: false,
    });
    scheduler.setTimesteps(50);
    const ts = scheduler.timesteps;
    assert.equal(ts.length, 51);
    assert.deepEqual(ts.slice(0, 5), [981, 961, 961, 941, 921]);
    assert.deepEqual(ts.slice(-3), [41, 21, 1]);
  });

  it('trailing and linspace spacing', () => {
    const trailing = createScheduler('pndm', { timestep_spacing: 'trailing', skip_prk_steps: true });
    trailing.setTimesteps(4);
    assert.deepEqual(trailing.timesteps, [999, 749, 749, 499, 249]);
    const linspace = createScheduler('pndm', { timestep_spacing: 'linspace', skip_prk_steps: true });
    linspace.setTimesteps(3);
    // np.linspace(0, 999, 3).round() = [0, 500, 999] (499.5 rounds half to even).
    assert.deepEqual(linspace.timesteps, [999, 500, 500, 0]);
  });

  it('test_pow_of_3_inference_steps: the first PRK steps run at 27 steps', () => {
    const scheduler = createScheduler('pndm', testConfig);
    scheduler.setTimesteps(27);
    let sample = dummySampleDeter();
    const residual = sample.map((v) => 0.1 * v);
    for (const t of scheduler.timesteps.slice(0, 2)) sample = scheduler.step(residual, t, sample).prevSample;
    assert.ok(sample.every(Number.isFinite));
  });

  it('test_inference_plms_no_past_residuals: PLMS before PRK throws', () => {
    const scheduler = new PndmScheduler(testConfig);
    scheduler.setTimesteps(50);
    const sample = dummySampleDeter();
    assert.throws(() => scheduler.stepPlms(sample, 1, sample), /PRK/);
  });

  it('skip_prk_steps: n + 1 PLMS calls, all finite', () => {
    const scheduler = createScheduler('pndm', { ...testConfig, skip_prk_steps: true });
    assert.ok(runFullLoop(scheduler).every(Number.isFinite));
    assert.equal(scheduler.timesteps.length, 11);
  });
});

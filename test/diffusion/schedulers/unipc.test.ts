// Mirrors diffusers tests/schedulers/test_scheduler_unipc.py (UniPCMultistepSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import type { UniPcScheduler } from '../../../src/diffusion/schedulers/unipc.js';
import { assertSumAndMean } from './diffusers-fixtures.js';
import { fullLoopOf } from './full-loop.js';

/** The test's get_scheduler_config (current diffusers: bh2, final σ = σ_min). */
const testConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  solver_type: 'bh2',
  final_sigmas_type: 'sigma_min',
} as const;

/** UniPCMultistepSchedulerTest.full_loop: 10 steps. */
const fullLoop = fullLoopOf('unipc', testConfig);

describe('UniPC full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise (bh2)', () => assertSumAndMean(fullLoop(), undefined, 0.2464));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), undefined, 0.1014));
  it('test_full_loop_with_karras_and_v_prediction', () =>
    assertSumAndMean(fullLoop({ prediction_type: 'v_prediction', use_karras_sigmas: true }), undefined, 0.1966));
  // The test's earlier config (diffusers ≤ 0.26): bh1, and a final σ equal to the last one.
  it('test_full_loop_no_noise (bh1, earlier diffusers)', () => assertSumAndMean(fullLoop({ solver_type: 'bh1' }), undefined, 0.2521));

  it('test_full_loop_with_noise: img2img from timesteps[8:], no corrector on the first step', () =>
    assertSumAndMean(fullLoop({}, { tStart: 8 }), 315.5757, 0.4109));

  it('test_switch: DPM-Solver solver names map to bh2', () => {
    const scheduler = createScheduler('unipc', { ...testConfig, solver_type: 'midpoint' }) as UniPcScheduler;
    assert.equal(scheduler.config.solver_type, 'bh2');
    assertSumAndMean(fullLoop({ solver_type: 'midpoint' }), undefined, 0.2464);
  });
});

describe('UniPC solver', () => {
  it('test_solver_order_and_type: no NaN for any order / B(h) / prediction, final σ 0 included', () => {
    for (const solver_type of ['bh1', 'bh2'])
      for (const solver_order of [1, 2, 3])
        for (const prediction_type of ['epsilon', 'sample', 'v_prediction'])
          for (const final_sigmas_type of ['zero', 'sigma_min']) {
            const sample = fullLoop({ solver_order, solver_type, prediction_type, final_sigmas_type });
            assert.ok(sample.every(Number.isFinite), `${solver_type} order ${solver_order} ${prediction_type} ${final_sigmas_type}`);
          }
  });

  it('any step count up to the bot’s 150, with and without Karras sigmas, runs to a finite sample', () => {
    for (const steps of [1, 2, 3, 5, 10, 50, 100, 150])
      for (const use_karras_sigmas of [false, true]) {
        assert.ok(fullLoop({ use_karras_sigmas, final_sigmas_type: 'zero' }, { steps }).every(Number.isFinite), `${steps} steps`);
      }
  });

  it('the corrector changes the result; disable_corrector turns it off per step', () => {
    const withCorrector = fullLoop();
    const without = fullLoop({ disable_corrector: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    assert.ok(withCorrector.some((v, i) => v !== without[i]));
    assert.deepEqual(fullLoop({ disable_corrector: [] }), withCorrector);
  });

  it('predict_x0 false (the noise-prediction variant) also runs', () => {
    assert.ok(fullLoop({ predict_x0: false }).every(Number.isFinite));
  });
});

describe('UniPC schedule and config', () => {
  it('linspace: steps + 1 points, last dropped; leading with steps_offset; trailing', () => {
    const linspace = createScheduler('unipc', {});
    linspace.setTimesteps(10);
    assert.deepEqual(linspace.timesteps, [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    const leading = createScheduler('unipc', { timestep_spacing: 'leading', steps_offset: 1 });
    leading.setTimesteps(4);
    assert.deepEqual(leading.timesteps, [801, 601, 401, 201]);
    const trailing = createScheduler('unipc', { timestep_spacing: 'trailing' });
    trailing.setTimesteps(4);
    assert.deepEqual(trailing.timesteps, [999, 749, 499, 249]);
  });

  it('Karras sigmas: rounded timesteps from the Karras ramp', () => {
    const scheduler = createScheduler('unipc', { ...testConfig, use_karras_sigmas: true }) as UniPcScheduler;
    scheduler.setTimesteps(10);
    assert.deepEqual(scheduler.timesteps, [999, 937, 864, 775, 663, 511, 301, 102, 18, 0]);
    assert.equal(scheduler.sigmas.length, 11);
  });

  it('rejects what this port lacks', () => {
    assert.throws(() => createScheduler('unipc', { thresholding: true }), /thresholding is not supported/);
    assert.throws(() => createScheduler('unipc', { use_flow_sigmas: true }), /flow/);
    assert.throws(() => createScheduler('unipc', { solver_type: 'bh3' }), /solver_type/);
  });
});

// Mirrors diffusers tests/schedulers/test_scheduler_dpm_multi.py (DPMSolverMultistepSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DpmMultistepScheduler } from '../../../src/diffusion/schedulers/dpm-multistep.js';
import { createScheduler, schedulerLabel } from '../../../src/diffusion/schedulers/index.js';
import { assertSumAndMean } from './diffusers-fixtures.js';
import { fullLoopOf, runFullLoop } from './full-loop.js';

const testConfig = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: false,
  euler_at_final: false,
  lambda_min_clipped: -Infinity,
  variance_type: null,
  final_sigmas_type: 'sigma_min',
} as const;

/** DPMSolverMultistepSchedulerTest.full_loop: 10 steps. */
const fullLoop = fullLoopOf('dpmpp_2m', testConfig);

describe('DPM-Solver multistep full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise', () => assertSumAndMean(fullLoop(), undefined, 0.3301));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), undefined, 0.2251));
  it('test_full_loop_with_karras_and_v_prediction', () =>
    assertSumAndMean(fullLoop({ prediction_type: 'v_prediction', use_karras_sigmas: true }), undefined, 0.2096));
  it('test_full_loop_with_lu_and_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction', use_lu_lambdas: true }), undefined, 0.1554));

  it('test_full_loop_with_noise: img2img from timesteps[5:]', () => assertSumAndMean(fullLoop({}, { tStart: 5 }), 318.4111, 0.4146));

  it('test_switch: DEIS / UniPC option names map to DPM++ 2M midpoint', () => {
    const scheduler = createScheduler('dpmpp_2m', { ...testConfig, algorithm_type: 'deis', solver_type: 'bh2' });
    assert.equal((scheduler as DpmMultistepScheduler).config.algorithm_type, 'dpmsolver++');
    assertSumAndMean(runFullLoop(scheduler), undefined, 0.3301);
  });
});

describe('DPM-Solver multistep solvers', () => {
  it('test_solver_order_and_type (deterministic algorithms): no NaN for any order / solver / prediction', () => {
    for (const algorithm_type of ['dpmsolver', 'dpmsolver++'])
      for (const solver_type of ['midpoint', 'heun'])
        for (const solver_order of [1, 2, 3])
          for (const prediction_type of ['epsilon', 'sample']) {
            const sample = fullLoop({ solver_order, solver_type, prediction_type, algorithm_type });
            assert.ok(sample.every(Number.isFinite), `${algorithm_type} ${solver_type} order ${solver_order} ${prediction_type}`);
          }
  });

  it('test_solver_order_and_type (SDE algorithms, torch.manual_seed(0)): no NaN', () => {
    for (const algorithm_type of ['sde-dpmsolver', 'sde-dpmsolver++'] as const)
      for (const solver_type of ['midpoint', 'heun'] as const)
        for (const solver_order of [1, 2])
          for (const prediction_type of ['epsilon', 'sample'] as const) {
            const config = { solver_order, solver_type, prediction_type, algorithm_type };
            const sample = fullLoop(config, { seed: 0 });
            assert.ok(sample.every(Number.isFinite), `${algorithm_type} ${solver_type} order ${solver_order} ${prediction_type}`);
          }
  });

  it('DPM++ 2M SDE: stochastic, seeded, needs a generator', () => {
    const sde = (seed?: number) => fullLoop({ algorithm_type: 'sde-dpmsolver++' }, { seed });
    assert.equal(createScheduler('dpmpp_2m', { ...testConfig, algorithm_type: 'sde-dpmsolver++' }).stochastic, true);
    assert.equal(createScheduler('dpmpp_2m', testConfig).stochastic, false);
    assert.deepEqual(sde(3), sde(3));
    assert.notDeepEqual(sde(3), sde(4));
    assert.throws(() => sde(), /TorchGenerator/);
  });

  // diffusers only steps once here; a full loop at 1000 steps repeats rounded timesteps, where
  // diffusers divides by a zero step in λ (NaN) and this port drops to a lower order instead.
  it('test_inference_steps: any step count from 1 to 1000 runs to a finite sample', () => {
    for (const steps of [1, 2, 3, 5, 10, 50, 100, 999, 1000]) {
      const scheduler = createScheduler('dpmpp_2m', testConfig);
      const sample = runFullLoop(scheduler, { steps });
      assert.equal(scheduler.timesteps.length, steps);
      assert.ok(sample.every(Number.isFinite), `${steps} steps`);
    }
  });

  it('lower_order_final keeps few-step runs stable and differs from plain second order', () => {
    const a = fullLoop({ lower_order_final: true });
    const b = fullLoop({ lower_order_final: false });
    assert.ok(a.some((v, i) => v !== b[i]));
  });

  it('lambda_min_clipped trims the noisiest timesteps', () => {
    // The cosine schedule's last λ values fall far below −5.1; the linear one's do not.
    const clipped = { ...testConfig, beta_schedule: 'squaredcos_cap_v2', lambda_min_clipped: -5.1 } as const;
    const scheduler = createScheduler('dpmpp_2m', clipped);
    scheduler.setTimesteps(10);
    // numpy: searchsorted(flip(λ), −5.1) = 4 → linspace(0, 995, 11).round()[::-1][:-1]
    assert.deepEqual(scheduler.timesteps, [995, 896, 796, 696, 597, 498, 398, 298, 199, 100]);
    const unclipped = createScheduler('dpmpp_2m', { ...clipped, lambda_min_clipped: -Infinity });
    unclipped.setTimesteps(10);
    assert.equal(unclipped.timesteps[0], 999);
    assert.ok(runFullLoop(scheduler).every(Number.isFinite));
  });
});

describe('DPM-Solver multistep schedule and config', () => {
  it('linspace timesteps: 999, 899 … 100 (steps + 1 points, last dropped)', () => {
    const scheduler = createScheduler('dpmpp_2m', {});
    scheduler.setTimesteps(10);
    assert.deepEqual(scheduler.timesteps, [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
  });

  it('leading and trailing spacing', () => {
    const leading = createScheduler('dpmpp_2m', { timestep_spacing: 'leading', steps_offset: 1 });
    leading.setTimesteps(4);
    // (arange(5) * (1000 // 5))[::-1][:-1] + 1
    assert.deepEqual(leading.timesteps, [801, 601, 401, 201]);
    const trailing = createScheduler('dpmpp_2m', { timestep_spacing: 'trailing' });
    trailing.setTimesteps(4);
    assert.deepEqual(trailing.timesteps, [999, 749, 499, 249]);
  });

  it('Karras sigmas: integer timesteps from the Karras ramp, final sigma 0', () => {
    const scheduler = createScheduler('dpmpp_2m', { ...testConfig, use_karras_sigmas: true, final_sigmas_type: 'zero' }) as DpmMultistepScheduler;
    scheduler.setTimesteps(10);
    assert.deepEqual(scheduler.timesteps, [999, 937, 864, 775, 663, 511, 301, 102, 18, 0]);
    assert.equal(scheduler.sigmas.length, 11);
    assert.equal(scheduler.sigmas[10], 0);
  });

  it('rejects what diffusers rejects or this port lacks', () => {
    assert.throws(() => createScheduler('dpmpp_2m', { algorithm_type: 'dpmsolver' }), /final_sigmas_type "zero"/);
    assert.throws(() => createScheduler('dpmpp_2m', { thresholding: true }), /thresholding is not supported/);
    assert.throws(() => createScheduler('dpmpp_2m', { variance_type: 'learned_range' }), /not supported/);
    assert.throws(() => createScheduler('dpmpp_2m', { solver_order: 4 }), /solver_order/);
    assert.throws(() => createScheduler('dpmpp_2m', { algorithm_type: 'sde-dpmsolver', solver_order: 3, final_sigmas_type: 'sigma_min' }), /third-order/);
  });

  it('labels: DPM++ 2M, DPM++ 2M Karras, DPM++ 2M SDE Karras', () => {
    assert.equal(schedulerLabel('dpmpp_2m', {}), 'DPM++ 2M');
    assert.equal(schedulerLabel('dpmpp_2m', { use_karras_sigmas: true }), 'DPM++ 2M Karras');
    assert.equal(schedulerLabel('dpmpp_2m', { algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true }), 'DPM++ 2M SDE Karras');
  });
});

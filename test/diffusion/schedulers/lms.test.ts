// Mirrors diffusers tests/schedulers/test_scheduler_lms.py (LMSDiscreteSchedulerTest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { integratePolynomial } from '../../../src/diffusion/schedulers/gauss-legendre.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import type { LmsScheduler } from '../../../src/diffusion/schedulers/lms.js';
import { assertSumAndMean } from './diffusers-fixtures.js';
import { fullLoopOf } from './full-loop.js';

const testConfig = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;

/** LMSDiscreteSchedulerTest.full_loop: 10 steps; the scaled sample is what step() receives. */
const fullLoop = fullLoopOf('lms', testConfig);

describe('LMS full loop (diffusers parity)', () => {
  it('test_full_loop_no_noise / test_full_loop_device', () => assertSumAndMean(fullLoop(), 1006.388, 1.31));
  it('test_full_loop_with_v_prediction', () => assertSumAndMean(fullLoop({ prediction_type: 'v_prediction' }), 0.0017, 2.2676e-6));
  it('test_full_loop_device_karras_sigmas', () => assertSumAndMean(fullLoop({ use_karras_sigmas: true }), 3812.9927, 4.9648, 2e-2, 1e-3));
  it('test_full_loop_with_noise: img2img from timesteps[8:], order 4 with one stored slope', () =>
    assertSumAndMean(fullLoop({}, { tStart: 8 }), 27663.6895, 36.0204));
});

describe('LMS coefficients', () => {
  it('4-point Gauss–Legendre is exact for polynomials up to degree 7', () => {
    // ∫₀² (x⁷ − 3x³ + 1) dx = 2⁸/8 − 3·2⁴/4 + 2 = 22
    assert.ok(Math.abs(integratePolynomial((x) => x ** 7 - 3 * x ** 3 + 1, 0, 2) - 22) < 1e-12);
    // Reversed bounds negate, as scipy.integrate.quad does.
    assert.ok(Math.abs(integratePolynomial((x) => x ** 7 - 3 * x ** 3 + 1, 2, 0) + 22) < 1e-12);
  });

  it('match scipy.integrate.quad on diffusers’ integrand (10 steps of the test config, step 5, order 4)', () => {
    const scheduler = createScheduler('lms', testConfig) as LmsScheduler;
    scheduler.setTimesteps(10);
    // scipy.integrate.quad(lms_derivative, σ₅, σ₆, epsrel=1e-4) for current_order 0…3, same float32 sigmas.
    const scipy = [-1.7479232863359229, 0.5458323318957646, -0.078649843673531, 0.002683222887859211];
    scipy.forEach((expected, k) => assert.ok(Math.abs(scheduler.lmsCoefficient(4, 5, k) - expected) < 1e-12, `k = ${k}`));
    // The Lagrange basis sums to 1, so the coefficients sum to σ₆ − σ₅.
    const sum = [0, 1, 2, 3].reduce((s, k) => s + scheduler.lmsCoefficient(4, 5, k), 0);
    assert.ok(Math.abs(sum - (scheduler.sigmas[6] - scheduler.sigmas[5])) < 1e-9);
  });

  it('the first step is Euler: order 1, coefficient σ₁ − σ₀', () => {
    const scheduler = createScheduler('lms', testConfig) as LmsScheduler;
    scheduler.setTimesteps(10);
    assert.ok(Math.abs(scheduler.lmsCoefficient(1, 0, 0) - (scheduler.sigmas[1] - scheduler.sigmas[0])) < 1e-9);
  });

  it('rejects use_beta_sigmas and two sigma schedules at once', () => {
    assert.throws(() => createScheduler('lms', { use_beta_sigmas: true }), /use_beta_sigmas is not supported/);
    assert.throws(() => createScheduler('lms', { use_karras_sigmas: true, use_exponential_sigmas: true }), /only one/);
  });
});

// DPMSolverSDEScheduler ("DPM++ SDE"). diffusers' own full-loop values
// (tests/schedulers/test_scheduler_dpm_sde.py, e.g. 162.5238 on CPU) depend on torchsde's
// Brownian tree noise and differ per device, so they cannot be matched here; see dpm-sde.ts.
// What is checked instead: the deterministic part against a line-by-line numpy port of
// diffusers' set_timesteps/step with the noise sampler returning zeros (float32 as torch), and
// the Brownian increments' covariance.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TorchGenerator } from '../../../src/diffusion/rng.js';
import type { DpmSdeScheduler } from '../../../src/diffusion/schedulers/dpm-sde.js';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import type { NoiseGenerator } from '../../../src/diffusion/schedulers/types.js';
import { absMean, absSum, assertNear } from './diffusers-fixtures.js';
import { fullLoopOf, recordingZeroNoise } from './full-loop.js';

const testConfig = { num_train_timesteps: 1100, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' } as const;
const zeros: NoiseGenerator = { randn: (n) => new Float32Array(n) };

/** DPMSolverSDESchedulerTest.full_loop: 10 steps, scaled input. */
const fullLoop = fullLoopOf('dpmpp_sde', testConfig);

describe('DPM++ SDE without noise (numpy port of diffusers)', () => {
  for (const [what, overrides, sum, mean] of [
    ['epsilon', {}, 2.7383424388362982, 0.003565550050568097],
    ['v_prediction', { prediction_type: 'v_prediction' }, 3.5326266414741735e-10, 4.59977427275283e-13],
    ['Karras sigmas', { use_karras_sigmas: true }, 2.453012246621256, 0.003194026362788094],
  ] as const) {
    it(`full loop, ${what}`, () => {
      const sample = fullLoop(overrides, { generator: zeros });
      assertNear(absSum(sample), sum, 1e-4 + 1e-5 * sum, 'sum(|sample|)');
      assertNear(absMean(sample), mean, 1e-7, 'mean(|sample|)');
    });
  }

  it('timesteps interleave each step’s midpoint sqrt(σ σ_next); sigmas as Heun’s', () => {
    const scheduler = createScheduler('dpmpp_sde', testConfig) as DpmSdeScheduler;
    scheduler.setTimesteps(4);
    assert.equal(scheduler.order, 2);
    const expected = [1099, 933.8178063108409, 732.6666666666666, 567.7610716868348, 366.3333333333333, 35.976771437168054, 0];
    expected.forEach((t, i) => assert.ok(Math.abs(scheduler.timesteps[i] - t) < 1e-9, `timestep ${i}: ${scheduler.timesteps[i]}`));
    const sigmas = [
      261.0555725097656, 11.912562370300293, 11.912562370300293, 1.5868176221847534, 1.5868176221847534, 0.010001329705119133, 0.010001329705119133, 0,
    ];
    assert.deepEqual(Array.from(scheduler.sigmas), sigmas);
  });
});

describe('DPM++ SDE noise', () => {
  it('two randn draws per step (one per half), none on the last step down to σ = 0', () => {
    const { generator, draws } = recordingZeroNoise();
    fullLoop({}, { generator });
    assert.deepEqual(draws, new Array(18).fill(768));
  });

  it('stochastic, seeded, needs a generator', () => {
    assert.equal(createScheduler('dpmpp_sde', testConfig).stochastic, true);
    const seeded = (seed: number) => fullLoop({}, { seed });
    assert.deepEqual(seeded(3), seeded(3));
    assert.notDeepEqual(seeded(3), seeded(4));
    assert.throws(() => fullLoop(), /TorchGenerator/);
  });

  it('the halves’ increments have a Brownian tree’s covariance: nested intervals, correlation sqrt(inner / outer)', () => {
    const n = 1 << 16;
    const x = new Float32Array(n).fill(1);
    const out = new Float32Array(n).fill(0.5);
    // Run one step twice — with the seed's noise and with none — so the difference is σ_up · noise.
    const run = (generator: NoiseGenerator) => {
      const scheduler = createScheduler('dpmpp_sde', { ...testConfig, prediction_type: 'epsilon' }) as DpmSdeScheduler;
      scheduler.setTimesteps(10);
      const [t0, tMid] = scheduler.timesteps;
      const first = scheduler.step(out, t0, x, generator).prevSample;
      const second = scheduler.step(out, tMid, x, generator).prevSample;
      return { first, second, sigma: scheduler.sigmas[0], sigmaNext: scheduler.sigmas[1] };
    };
    const noisy = run(new TorchGenerator(1));
    const clean = run(zeros);
    const { sigma, sigmaNext } = noisy;
    const mid = Math.sqrt(sigma * sigmaNext);
    const up = (from: number, to: number) => Math.min(to, Math.sqrt((to ** 2 * (from ** 2 - to ** 2)) / from ** 2));
    const z1 = noisy.first.map((v, i) => (v - clean.first[i]) / up(sigma, mid));
    const z2 = noisy.second.map((v, i) => (v - clean.second[i]) / up(sigma, sigmaNext));
    const moments = (a: Float32Array, b: Float32Array) => {
      let ab = 0;
      let aa = 0;
      let bb = 0;
      for (let i = 0; i < n; i++) {
        ab += a[i] * b[i];
        aa += a[i] * a[i];
        bb += b[i] * b[i];
      }
      return { varA: aa / n, varB: bb / n, corr: ab / Math.sqrt(aa * bb) };
    };
    const m = moments(z1, z2);
    assert.ok(Math.abs(m.varA - 1) < 0.02 && Math.abs(m.varB - 1) < 0.02, `unit variance: ${m.varA}, ${m.varB}`);
    const expected = Math.sqrt((sigma - mid) / (sigma - sigmaNext));
    assert.ok(Math.abs(m.corr - expected) < 0.02, `correlation ${m.corr}, Brownian ${expected}`);
  });
});

describe('DPM++ SDE config', () => {
  it('leading spacing: init noise sigma is sqrt(σ_max² + 1); trailing starts at the last training step', () => {
    const leading = createScheduler('dpmpp_sde', { ...testConfig, timestep_spacing: 'leading' }) as DpmSdeScheduler;
    leading.setTimesteps(10);
    assert.ok(Math.abs(leading.initNoiseSigma - Math.sqrt(leading.sigmas[0] ** 2 + 1)) < 1e-3);
    const trailing = createScheduler('dpmpp_sde', { timestep_spacing: 'trailing' });
    trailing.setTimesteps(4);
    assert.deepEqual(
      trailing.timesteps.filter((_, i) => i % 2 === 0),
      [999, 749, 499, 249],
    );
  });

  it('rejects sample prediction (diffusers raises) and use_beta_sigmas', () => {
    assert.throws(() => createScheduler('dpmpp_sde', { prediction_type: 'sample' }), /prediction_type/);
    assert.throws(() => createScheduler('dpmpp_sde', { use_beta_sigmas: true }), /use_beta_sigmas is not supported/);
  });
});

// Shared schedule math against values printed by numpy (float32 arrays as diffusers keeps them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arange,
  cosineBetas,
  interpOnIndexGrid,
  karrasSigmas,
  linspace,
  logSigmasOf,
  noiseSchedule,
  rescaleZeroTerminalSnr,
  roundHalfEven,
  sigmaToT,
  trainSigmas,
} from '../../../src/diffusion/schedulers/noise-schedule.js';

const sd = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', trained_betas: null } as const;

describe('numpy helpers', () => {
  it('roundHalfEven is np.round', () => {
    const x = [0.5, 1.5, 2.5, -0.5, -1.5, 3.4999, 937.5, 812.5];
    assert.deepEqual(
      x.map(roundHalfEven).map((v) => v + 0),
      [0, 2, 2, 0, -2, 3, 938, 812],
    );
  });

  it('arange with a fractional step fills start + i·delta (np.arange(1000, 0, -1000/3))', () => {
    assert.deepEqual(arange(1000, 0, -1000 / 3), [1000, 666.6666666666667, 333.3333333333335]);
    assert.deepEqual(arange(10, 0, -10 / 3), [10, 6.666666666666666, 3.333333333333332]);
  });

  it('linspace pins the end point; endpoint=false stops short', () => {
    assert.deepEqual(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(linspace(0, 50, 4, false), [0, 12.5, 25, 37.5]);
    assert.deepEqual(linspace(3, 9, 1), [3]);
  });

  it('interp on the index grid', () => {
    const fp = [0, 10, 30];
    assert.equal(interpOnIndexGrid(0.5, fp), 5);
    assert.equal(interpOnIndexGrid(1.25, fp), 15);
    assert.equal(interpOnIndexGrid(2, fp), 30);
    assert.equal(interpOnIndexGrid(-1, fp), 0);
  });
});

describe('noise schedules', () => {
  it('Stable Diffusion scaled_linear: ᾱ_0, ᾱ_500, ᾱ_999 as float32', () => {
    const { alphasCumprod } = noiseSchedule(sd);
    assert.ok(Math.abs(alphasCumprod[0] - 0.9991499781608582) < 1e-7);
    assert.ok(Math.abs(alphasCumprod[500] - 0.27633243799209595) < 1e-6);
    assert.ok(Math.abs(alphasCumprod[999] - 0.004660093691200018) < 1e-8);
  });

  it('squaredcos_cap_v2 betas (betas_for_alpha_bar, cosine), capped at 0.999', () => {
    const betas = cosineBetas(1000);
    assert.deepEqual(Array.from(betas.subarray(0, 3)), [4.128422369831242e-5, 4.614175122696906e-5, 5.099948248243891e-5]);
    assert.equal(betas[999], Math.fround(0.999));
  });

  it('rescale_betas_zero_snr: terminal ᾱ is 0, the first is kept', () => {
    const plain = noiseSchedule(sd).alphasCumprod;
    const rescaled = noiseSchedule({ ...sd, rescale_betas_zero_snr: true }).alphasCumprod;
    assert.equal(rescaled[999], 0);
    assert.ok(Math.abs(rescaled[0] - plain[0]) < 1e-6);
    assert.equal(rescaleZeroTerminalSnr(noiseSchedule(sd).betas).length, 1000);
  });

  it('sigmaToT inverts the training sigmas; Karras ramps from σ_max to σ_min', () => {
    const sigmas = trainSigmas(noiseSchedule(sd).alphasCumprod);
    const logSigmas = logSigmasOf(sigmas);
    for (const t of [0, 1, 250, 998, 999]) assert.ok(Math.abs(sigmaToT(sigmas[t], logSigmas) - t) < 1e-3, `t=${t}`);
    assert.ok(Math.abs(sigmaToT((sigmas[10] + sigmas[11]) / 2, logSigmas) - 10.5) < 0.01);
    const karras = karrasSigmas(sigmas[0], sigmas[999], 10);
    assert.ok(Math.abs(karras[0] - sigmas[999]) < 1e-4 && Math.abs(karras[9] - sigmas[0]) < 1e-7);
    for (let i = 1; i < karras.length; i++) assert.ok(karras[i] < karras[i - 1]);
  });
});

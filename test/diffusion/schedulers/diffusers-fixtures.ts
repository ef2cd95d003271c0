// Fixtures of diffusers' tests/schedulers/test_schedulers.py (SchedulerCommonTest), so the
// full-loop tests here can assert the same sums and means as diffusers' own scheduler tests.
import assert from 'node:assert/strict';

const BATCH = 4;
const CHANNELS = 3;
const HEIGHT = 8;
const WIDTH = 8;
export const NUM_ELEMS = BATCH * CHANNELS * HEIGHT * WIDTH;

/**
 * arange(num_elems) → reshape(C, H, W, B) → / num_elems → permute(3, 0, 1, 2): element
 * [b, c, h, w] of the (4, 3, 8, 8) tensor is value(((c·H + h)·W + w)·B + b).
 */
function permutedArange(value: (i: number) => number): Float32Array {
  const out = new Float32Array(NUM_ELEMS);
  let k = 0;
  for (let b = 0; b < BATCH; b++)
    for (let c = 0; c < CHANNELS; c++)
      for (let h = 0; h < HEIGHT; h++) for (let w = 0; w < WIDTH; w++) out[k++] = value(((c * HEIGHT + h) * WIDTH + w) * BATCH + b);
  return out;
}

/** SchedulerCommonTest.dummy_sample_deter */
export function dummySampleDeter(): Float32Array {
  return permutedArange((i) => i / NUM_ELEMS);
}

/** SchedulerCommonTest.dummy_noise_deter: the same, from the flipped arange. */
export function dummyNoiseDeter(): Float32Array {
  return permutedArange((i) => (NUM_ELEMS - 1 - i) / NUM_ELEMS);
}

/** SchedulerCommonTest.dummy_model: sample * t / (t + 1), in float32 like torch. */
export function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tf = Math.fround(t);
  const denominator = Math.fround(tf + 1);
  return sample.map((s) => Math.fround(s * tf) / denominator);
}

export function absSum(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += Math.abs(v);
  return s;
}

export function absMean(x: Float32Array): number {
  return absSum(x) / x.length;
}

/** diffusers' `assert abs(result.item() - expected) < tolerance`. */
export function assertNear(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) < tolerance,
    `${what}: got ${actual}, diffusers expects ${expected} ± ${tolerance} (off by ${Math.abs(actual - expected)})`,
  );
}

/** Both checks of a diffusers full-loop test. */
export function assertSumAndMean(sample: Float32Array, sum: number | undefined, mean: number, sumTol = 1e-2, meanTol = 1e-3): void {
  assert.ok(sample.every(Number.isFinite), 'sample has non-finite values');
  if (sum !== undefined) assertNear(absSum(sample), sum, sumTol, 'sum(|sample|)');
  assertNear(absMean(sample), mean, meanTol, 'mean(|sample|)');
}

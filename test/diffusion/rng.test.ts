import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TorchGenerator, randnTensor } from '../../src/diffusion/rng.js';

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-4) {
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) < tol, `index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

test('manual_seed(42); randn(6) — the scalar path (fewer than 16 elements)', () => {
  close(new TorchGenerator(42).randn(6), [0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863]);
});

test('manual_seed(0); randn(4, 4) — the 16-wide float path', () => {
  close(randnTensor(new TorchGenerator(0), [4, 4]), [-1.1258, -1.1524, -0.2506, -0.4339, 0.8487]);
});

test('successive calls continue one stream, including the cached scalar normal', () => {
  const whole = new TorchGenerator(42).randn(6);
  const g = new TorchGenerator(42);
  const parts = [...g.randn(1), ...g.randn(2), ...g.randn(3)];
  close(parts, Array.from(whole), 1e-7);
});

test('sizes that are not a multiple of 16 redraw the last 16 values', () => {
  const a = new TorchGenerator(0).randn(17);
  const b = new TorchGenerator(0).randn(16);
  assert.equal(a[0], b[0], 'the first block is untouched');
  assert.notEqual(a[1], b[1], 'the tail block (elements 1..16) was recomputed');
  const c = new TorchGenerator(7).randn(4 * 64 * 64 + 5);
  let sum = 0;
  let sq = 0;
  for (const v of c) {
    sum += v;
    sq += v * v;
  }
  const mean = sum / c.length;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(sq / c.length - 1) < 0.05, 'standard normal moments');
});

test('seeds: 64-bit values use the low 32 bits as torch does; bad seeds are refused', () => {
  assert.deepEqual(new TorchGenerator(2n ** 32n + 42n).randn(6), new TorchGenerator(42).randn(6));
  assert.throws(() => new TorchGenerator(-1), RangeError);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TorchGenerator, fma32, randnTensor } from '../../src/diffusion/rng.js';

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-4) {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) < tol, `index ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

function sha256(a: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
}

// Printed torch outputs (torch.manual_seed(s); torch.randn(...)), as in PyTorch tutorials and docs.
test('scalar path (fewer than 16 elements) matches published torch.randn outputs', () => {
  close(new TorchGenerator(42).randn(6), [0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863]);
  close(new TorchGenerator(1).randn(5), [0.6614, 0.2669, 0.0617, 0.6213, -0.4519]);
  close(
    randnTensor(new TorchGenerator(0), [3, 5]),
    [1.541, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986, 0.4033, 0.838, -0.7193, -0.4033, -0.5966, 0.182, -0.8567, 1.1006, -1.0712],
  );
});

test('16-wide float path matches published torch.randn(4, 4) outputs', () => {
  close(
    randnTensor(new TorchGenerator(0), [4, 4]),
    [-1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.3081, 0.1198, 1.2377, 1.1168, -0.2473],
  );
  close(
    randnTensor(new TorchGenerator(42), [4, 4]),
    [1.9269, 1.4873, 0.9007, -2.1055, 0.6784, -1.2345, -0.0431, -1.6047, -0.7521, 1.6487, -0.3925, -1.4036, -0.7279, -0.5594, -0.7688, 0.7624],
  );
});

// Float32 bit patterns dumped from torch on x86-64 (torch.manual_seed(s); torch.randn(shape,
// dtype=float32).numpy().tofile(...)) by the TensorPencil project (tools/dump_randn.py,
// testdata/randn_*.bin); the hashes are sha256 of those files.
test('bit-exact with torch on x86-64, including the redrawn tail of odd sizes', () => {
  assert.deepEqual(
    bits(new TorchGenerator(7).randn(40)),
    [
      0xbf51f456, 0x3eca902b, 0x3f661ede, 0xbfb1b738, 0xbe2b0101, 0x3e91ff2d, 0xbf241e93, 0xbf64c69a, 0x3f6d31ec, 0xbf091754, 0xbf9471b7, 0xbeeb99b8,
      0x3f3562d1, 0x3f81a1f8, 0x3e6bed28, 0x3f8b8a88, 0xbfca94c1, 0xbea62d99, 0x3ff6933b, 0xbea8f74c, 0x3e4b352e, 0x3f4835ea, 0x3f85017b, 0xbf397989,
      0xbe0aaff8, 0x3f3f4324, 0x3f1c9ff5, 0x3fef1388, 0x4020be1a, 0xbfa09ccd, 0x3f51034b, 0xbf885efe, 0xbfd189ea, 0x3e217f3b, 0x3eca9e8e, 0xbfaf1218,
      0xbdce4dcb, 0x3e72b3f4, 0x3f21f774, 0xbdbbc13d,
    ],
  );
  const thousand = new TorchGenerator(12345).randn(1000);
  assert.deepEqual(
    bits(thousand.subarray(984)),
    [
      0xbf64deb5, 0xbfcecbe1, 0xbf930308, 0xbe251ab5, 0xbee953f9, 0x3ee24381, 0x3f1bddd8, 0xbeecd95c, 0x3f924c85, 0x3da72872, 0x3f51d303, 0xbfb4108e,
      0x3f52f461, 0x3f24a79b, 0x3fdadceb, 0xbebfae10,
    ],
  );
  assert.equal(sha256(thousand), 'c3e72928cef812ed43e668554e6cb465dc9bc4a998ff3f5f6ff5b1c4eb97ed51');
  assert.equal(sha256(randnTensor(new TorchGenerator(42), [1, 16, 8, 8])), 'd8607ea4ae1d5a731e50f615a12d198e0a1531cfe4e48cac3d228e521fd969f8');
  assert.equal(sha256(randnTensor(new TorchGenerator(80085), [1, 16, 210, 140])), '4fc91b0154ef184f9f7692c961de776deff50c85e90eb9318ad8fa3a96bb8162');
});

test('sizes that are not a multiple of 16 redraw the last 16 values', () => {
  const a = new TorchGenerator(0).randn(17);
  const b = new TorchGenerator(0).randn(16);
  assert.equal(a[0], b[0], 'the first block is untouched');
  assert.notEqual(a[1], b[1], 'the tail block (elements 1..16) was recomputed');
});

test('successive calls continue one stream, including the cached scalar normal', () => {
  const whole = new TorchGenerator(42).randn(6);
  const g = new TorchGenerator(42);
  assert.deepEqual([...g.randn(1), ...g.randn(2), ...g.randn(3)], Array.from(whole));
  // A float-path call in between draws uniforms but leaves the cached normal in place.
  const h = new TorchGenerator(42);
  const first = h.randn(1)[0];
  const block = h.randn(16);
  const cached = h.randn(1)[0];
  assert.equal(first, whole[0]);
  assert.equal(cached, whole[1]);
  const reference = new TorchGenerator(42);
  reference.randn(2);
  assert.deepEqual(block, reference.randn(16));
});

test('fma32 rounds once, even where a double-rounded sum would tie', () => {
  const a = 1 + 2 ** -23;
  const b = 1 - 2 ** -23;
  // a*b + c = 2^24 + 3 - 2^-46: just below the midpoint of 2^24 + 2 and 2^24 + 4.
  assert.equal(Math.fround(a * b + (2 ** 24 + 2)), 2 ** 24 + 4, 'the naive double sum rounds up');
  assert.equal(fma32(a, b, 2 ** 24 + 2), 2 ** 24 + 2);
  assert.equal(fma32(-a, b, -(2 ** 24 + 2)), -(2 ** 24 + 2));
  assert.equal(fma32(1.5, 2, 0.25), 3.25);
});

test('seeds behave like manual_seed: 64-bit and negative values, only the low 32 bits count', () => {
  const ref = new TorchGenerator(42).randn(16);
  assert.deepEqual(new TorchGenerator(2n ** 32n + 42n).randn(16), ref);
  assert.deepEqual(new TorchGenerator(42n).randn(16), ref);
  const max = new TorchGenerator(2n ** 64n - 1n).randn(6);
  assert.deepEqual(new TorchGenerator(-1).randn(6), max, "negative seeds are two's complement");
  assert.deepEqual(new TorchGenerator(0xffffffff).randn(6), max);
  assert.throws(() => new TorchGenerator(2n ** 64n), RangeError);
  assert.throws(() => new TorchGenerator(-(2n ** 63n) - 1n), RangeError);
  assert.throws(() => new TorchGenerator(1.5), RangeError);
  assert.throws(() => new TorchGenerator(Number.NaN), RangeError);
});

test('randnTensor takes the product of the dimensions and refuses bad shapes', () => {
  assert.equal(randnTensor(new TorchGenerator(0), [2, 4, 8, 8]).length, 512);
  assert.equal(randnTensor(new TorchGenerator(0), [2, 0, 8]).length, 0);
  assert.equal(randnTensor(new TorchGenerator(0), []).length, 1);
  assert.throws(() => randnTensor(new TorchGenerator(0), [2, -1]), RangeError);
  assert.throws(() => new TorchGenerator(0).randn(2.5), RangeError);
});

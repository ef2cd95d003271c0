// The bulk float16 converters (a lookup table one way, integer rounding the other) against the
// scalar reference conversions, exhaustively where rounding can go wrong.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../src/diffusion/float16.js';

test('half → single: the table gives every one of the 65536 bit patterns exactly', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const out = float16ToFloat32(all);
  for (let h = 0; h < 65536; h++) {
    const want = fromFloat16Bits(h);
    if (!Object.is(out[h], Math.fround(want)) && !(Number.isNaN(want) && Number.isNaN(out[h]))) {
      assert.fail(`0x${h.toString(16)}: ${out[h]} instead of ${want}`);
    }
  }
});

test('single → half rounds as toFloat16Bits does: around every half value and its midpoints, and a sweep of all float32s', () => {
  const bits = new Uint32Array(1 << 22);
  const floats = new Float32Array(bits.buffer);
  const check = (n: number) => {
    const got = float32ToFloat16(floats.subarray(0, n));
    for (let i = 0; i < n; i++) {
      if (got[i] !== toFloat16Bits(floats[i]))
        assert.fail(`0x${bits[i].toString(16)} (${floats[i]}): 0x${got[i].toString(16)} instead of 0x${toFloat16Bits(floats[i]).toString(16)}`);
    }
  };
  // Each half h as float32, and the float32s within 2 ulps of it and of the midpoint to h + 1.
  const probe = new Float32Array(1);
  const probeBits = new Uint32Array(probe.buffer);
  let n = 0;
  for (let h = 0; h < 0x10000; h++) {
    probe[0] = fromFloat16Bits(h);
    if (Number.isNaN(probe[0])) continue;
    const at = probeBits[0];
    // The largest finite half's neighbour is infinity; the midpoint is 65520 (one more ulp step).
    let next = at + (1 << 13);
    if (h !== 0x7bff && h !== 0xfbff) {
      probe[0] = fromFloat16Bits(h + 1);
      next = probeBits[0];
    }
    const mid = at + Math.floor((next - at) / 2);
    for (const base of [at, mid]) for (let d = -2; d <= 2; d++) bits[n++] = (base + d) >>> 0;
    if (n > bits.length - 16) {
      check(n);
      n = 0;
    }
  }
  check(n);
  // Every 4099th float32 bit pattern (NaNs, infinities and subnormals included).
  for (let start = 0; start < 2 ** 32; start += 4099 * bits.length) {
    let k = 0;
    for (let x = start; k < bits.length && x < 2 ** 32; x += 4099) bits[k++] = x >>> 0;
    check(k);
  }
});

test('plain arrays and caller buffers', () => {
  const out = new Uint16Array(3);
  assert.equal(float32ToFloat16([1, -2, 65504], out), out);
  assert.deepEqual([...out], [0x3c00, 0xc000, 0x7bff]);
  const back = new Float32Array(3);
  assert.equal(float16ToFloat32(out, back), back);
  assert.deepEqual([...back], [1, -2, 65504]);
  assert.throws(() => float32ToFloat16(new Float32Array(4), new Uint16Array(3)), RangeError);
});

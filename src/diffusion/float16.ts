// IEEE 754 half precision ↔ single precision, for writing float16 initializers and for
// building or reading float16 tensors (onnxruntime-node carries them as Uint16Array bits).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One number → float16 bits, rounded to nearest even (as numpy's astype(float16)). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: shift the 24-bit significand (implicit 1 included) into 10 bits.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** float16 bits → the exact number they encode. */
export function fromFloat16Bits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

// Bulk conversions, the hot path of float16 models (every UNet input and output, the VAE's
// picture): a 65536-entry table for half → single, and the integer form of the rounding above
// for single → half, both writing into a caller's buffer when given one.

let halfTable: Float32Array | undefined;

/** Every float16 bit pattern's float32 value (256 KiB, built on first use). */
function halfToSingleTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = fromFloat16Bits(h);
  halfTable = t;
  return t;
}

/** Below this magnitude (2⁻¹⁴, the smallest normal half) the result is subnormal: toFloat16Bits handles it. */
const MIN_NORMAL_HALF = 0x38800000;
/** From 65520 up, round-to-nearest-even gives infinity. */
const HALF_OVERFLOW = 0x477ff000;
const SINGLE_INFINITY = 0x7f800000;
/** exponent bias 127 → 15, in place in the float32 bits. */
const REBIAS = (127 - 15) << 23;

export function float32ToFloat16(src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError(`float16 buffer holds ${out.length} values, need ${src.length}`);
  if (!(src instanceof Float32Array)) {
    for (let i = 0; i < src.length; i++) out[i] = toFloat16Bits(src[i]);
    return out;
  }
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const a = x & 0x7fffffff;
    if (a >= HALF_OVERFLOW) out[i] = a > SINGLE_INFINITY ? sign | 0x7e00 : sign | 0x7c00;
    else if (a >= MIN_NORMAL_HALF) out[i] = sign | ((a - REBIAS + 0xfff + ((a >>> 13) & 1)) >>> 13);
    else out[i] = toFloat16Bits(src[i]);
  }
  return out;
}

export function float16ToFloat32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError(`float32 buffer holds ${out.length} values, need ${src.length}`);
  const t = halfToSingleTable();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

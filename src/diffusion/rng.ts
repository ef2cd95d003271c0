// torch.randn on CPU, bit for bit: the same seed gives the same starting noise here as in
// diffusers (with a CPU generator) and ComfyUI. Torch draws from mt19937 and turns uniforms
// into normals two ways (aten/src/ATen/native/cpu/DistributionTemplates.h, normal_kernel):
//  - fewer than 16 elements: a double-precision Box–Muller per element that caches its
//    second value in the generator (at::normal_distribution<double>);
//  - 16 or more float32 elements: all uniforms first, then a float32 Box–Muller over blocks
//    of 16 (pairs j, j + 8); when the size is not a multiple of 16 the last 16 values are
//    redrawn. x86-64 builds run this block through normal_fill_16_AVX2, whose log and sincos
//    are Cephes polynomials (avx_mathfun.h) compiled with fused multiply-adds; that exact
//    sequence is reproduced here, so the noise matches torch on x86-64 to the last bit
//    (ARM builds of torch use libm instead and differ in the last bit or two).

const N = 624;
const M = 397;

/** The Mersenne Twister (mt19937), as torch seeds it: from the low 32 bits of the seed. */
class MT19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.state[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.state[i - 1] ^ (this.state[i - 1] >>> 30);
      this.state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i] & 0x80000000) | (s[(i + 1) % N] & 0x7fffffff);
      let v = s[(i + M) % N] ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      s[i] = v >>> 0;
    }
    this.index = 0;
  }
}

const f = Math.fround;
const TWO_PI = 2 * Math.PI;

// Scratch views for reading and writing float32 bit patterns.
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function bitsOf(x: number): number {
  F32[0] = x;
  return U32[0];
}

function fromBits(bits: number): number {
  U32[0] = bits >>> 0;
  return F32[0];
}

/**
 * float32 fused multiply-add, rounded once. a*b is exact in a double (24 + 24 bits), so
 * a*b + c is off only by the double's own rounding, which can move the float32 result
 * just when the double sum lands exactly halfway between two floats; the exact error term
 * (Knuth's two-sum) settles that tie.
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f(s);
  if (r === s) return r;
  const v = s - p;
  const err = p - (s - v) + (c - v);
  if (err === 0 || r === 0) return r;
  // The float on the other side of s from r.
  const up = s > r;
  const other = fromBits(bitsOf(r) + (r > 0 === up ? 1 : -1));
  if ((r + other) / 2 !== s) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

const MIN_NORM = fromBits(0x00800000);
// biome-ignore lint/correctness/noPrecisionLoss: the constant as Cephes' single-precision source writes it; f() rounds it to float32 as the C code does
const SQRT_HALF = f(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);
const LOG_Q1 = f(-2.1219444e-4);
const LOG_Q2 = f(0.693359375);

/** avx_mathfun's log256_ps for one lane, with the contractions GCC makes (x > 0 here). */
function cephesLog(x0: number): number {
  const bits = bitsOf(Math.max(x0, MIN_NORM));
  let e = f((bits >>> 23) - 0x7f + 1);
  let x = fromBits((bits & ~0x7f800000) | 0x3f000000); // mantissa scaled into [0.5, 1)
  const small = x < SQRT_HALF;
  const tmp = small ? x : 0;
  x = f(x - 1);
  if (small) e = f(e - 1);
  x = f(x + tmp);
  const z = f(x * x);
  let y = LOG_P[0];
  for (let i = 1; i < LOG_P.length; i++) y = fma32(y, x, LOG_P[i]);
  y = f(y * x);
  y = fma32(y, z, f(e * LOG_Q1));
  y = fma32(z, -0.5, y);
  x = f(x + y);
  return fma32(e, LOG_Q2, x);
}

const FOPI = f(1.27323954473516); // 4 / pi
const DP1 = f(-0.78515625);
// biome-ignore lint/correctness/noPrecisionLoss: the constant as Cephes' single-precision source writes it; f() rounds it to float32 as the C code does
const DP2 = f(-2.4187564849853515625e-4);
// biome-ignore lint/correctness/noPrecisionLoss: the constant as Cephes' single-precision source writes it; f() rounds it to float32 as the C code does
const DP3 = f(-3.77489497744594108e-8);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);

/** avx_mathfun's sincos256_ps for one lane (x >= 0 here); writes [sin, cos] into out. */
function cephesSinCos(x0: number, out: Float64Array): void {
  let x = Math.abs(x0);
  let j = Math.trunc(f(x * FOPI));
  j = (j + 1) & ~1;
  const y = j; // small integer, exact in float32
  const swapSinSign = (j & 4) !== 0;
  const sinPoly = (j & 2) === 0;
  const cosNegative = (~(j - 2) & 4) !== 0;
  x = fma32(y, DP1, x);
  x = fma32(y, DP2, x);
  x = fma32(y, DP3, x);
  const z = f(x * x);
  let yc = fma32(COS_P[0], z, COS_P[1]);
  yc = fma32(yc, z, COS_P[2]);
  yc = f(yc * z);
  yc = fma32(yc, z, -f(z * 0.5));
  yc = f(yc + 1);
  let ys = fma32(SIN_P[0], z, SIN_P[1]);
  ys = fma32(ys, z, SIN_P[2]);
  ys = f(ys * z);
  ys = fma32(ys, x, x);
  const sin = sinPoly ? ys : yc;
  const cos = sinPoly ? yc : ys;
  const sinNegative = (x0 < 0 || Object.is(x0, -0)) !== swapSinSign;
  out[0] = sinNegative ? -sin : sin;
  out[1] = cosNegative ? -cos : cos;
}

const TWO_PI_F = f(TWO_PI);
const sincos = new Float64Array(2);

/** normal_fill_16_AVX2 (mean 0, std 1): Box–Muller over data[off .. off + 16] in place. */
function normalFill16(data: Float32Array, off: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - data[off + j]);
    const u2 = data[off + j + 8];
    const radius = f(Math.sqrt(f(-2 * cephesLog(u1))));
    cephesSinCos(f(TWO_PI_F * u2), sincos);
    data[off + j] = f(radius * sincos[1]);
    data[off + j + 8] = f(radius * sincos[0]);
  }
}

const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

export class TorchGenerator {
  private readonly engine: MT19937;
  /** The scalar path's cached second normal (torch's next_double_normal_sample). */
  private cachedNormal: number | undefined;

  /**
   * Like torch.Generator().manual_seed(seed): any integer from -2^63 to 2^64 - 1, negative
   * ones read as two's complement; only the low 32 bits reach mt19937.
   */
  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    const big = BigInt(seed);
    if (big < INT64_MIN || big > UINT64_MAX) throw new RangeError('seed must be between -2^63 and 2^64 - 1');
    this.engine = new MT19937(Number(BigInt.asUintN(32, big)));
  }

  /** torch's uniform_real_distribution<float>: 24 random bits of one draw. */
  private uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) * 2 ** -24;
  }

  /** torch's uniform_real_distribution<double>: 53 bits of random64() = (first << 32) | second. */
  private uniformDouble(): number {
    const hi = this.engine.nextUint32();
    const lo = this.engine.nextUint32();
    return ((hi & 0x1fffff) * 4294967296 + lo) * 2 ** -53;
  }

  /** at::normal_distribution<double>: u1 sets the angle, u2 the radius, sin is kept for later. */
  private normalDouble(): number {
    if (this.cachedNormal !== undefined) {
      const v = this.cachedNormal;
      this.cachedNormal = undefined;
      return v;
    }
    const u1 = this.uniformDouble();
    const u2 = this.uniformDouble();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = TWO_PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `torch.randn(n, generator=g)` as float32; successive calls continue one stream. */
  randn(n: number): Float32Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`randn needs a non-negative integer size, got ${n}`);
    const out = new Float32Array(n);
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(out, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      normalFill16(out, start);
    }
    return out;
  }
}

/** Noise of a given shape from the generator (the product of the dimensions, row-major). */
export function randnTensor(generator: TorchGenerator, shape: readonly number[]): Float32Array {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`bad tensor shape [${shape.join(', ')}]`);
  }
  return generator.randn(shape.reduce((a, b) => a * b, 1));
}

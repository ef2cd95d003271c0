// torch.randn on CPU, bit for bit: the same seed gives the same starting noise here as in
// diffusers and ComfyUI. Torch draws from mt19937 and turns uniforms into normals two ways:
// tensors of fewer than 16 elements go through a double-precision scalar Box–Muller that
// caches its second value in the generator; larger ones use a float32 16-wide Box–Muller,
// and when the size is not a multiple of 16 the last 16 values are redrawn.

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
      // 1812433253 * prev + i, mod 2^32, without losing precision in doubles.
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

const TWO_PI = 2 * Math.PI;
const f = Math.fround;

export class TorchGenerator {
  private readonly engine: MT19937;
  /** The scalar path's cached second normal (torch's next_double_normal_sample). */
  private cachedNormal: number | undefined;

  constructor(seed: number | bigint) {
    const big = BigInt(seed);
    if (big < 0n || big > 0xffffffffffffffffn) throw new RangeError('seed must be between 0 and 2^64 - 1');
    this.engine = new MT19937(Number(big & 0xffffffffn));
  }

  /** torch's uniform_real_distribution<float>: 24 random bits of one draw. */
  private uniformFloat(): number {
    return (this.engine.nextUint32() & 0xffffff) * 2 ** -24;
  }

  /** torch's uniform_real_distribution<double>: 53 bits of random64() = (first << 32) | second. */
  private uniformDouble(): number {
    const hi = this.engine.nextUint32();
    const lo = this.engine.nextUint32();
    // (hi * 2^32 + lo) & (2^53 - 1) = (hi & 0x1fffff) * 2^32 + lo
    return ((hi & 0x1fffff) * 4294967296 + lo) * 2 ** -53;
  }

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
    if (!Number.isInteger(n) || n < 0) throw new RangeError('randn needs a non-negative integer size');
    const out = new Float32Array(n);
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble();
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniformFloat();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(out, i);
    if (n % 16 !== 0) {
      // torch recomputes the tail: fresh uniforms for the last 16, then one more block.
      const start = n - 16;
      for (let i = 0; i < 16; i++) out[start + i] = this.uniformFloat();
      normalFill16(out, start);
    }
    return out;
  }
}

/** Box–Muller on 16 uniforms in float32 arithmetic, as torch's normal_fill_16. */
function normalFill16(data: Float32Array, off: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - data[off + j]);
    const u2 = data[off + j + 8];
    const radius = f(Math.sqrt(f(-2 * f(Math.log(u1)))));
    const theta = f(f(TWO_PI) * u2);
    data[off + j] = f(radius * f(Math.cos(theta)));
    data[off + j + 8] = f(radius * f(Math.sin(theta)));
  }
}

/** Noise of a given shape from the generator (the product of the dimensions, row-major). */
export function randnTensor(generator: TorchGenerator, shape: readonly number[]): Float32Array {
  return generator.randn(shape.reduce((a, b) => a * b, 1));
}

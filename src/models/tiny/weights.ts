// Deterministic pseudo-random weights. Only integer operations and exact float arithmetic
// (no Math.log/sin), so every platform and Node version writes byte-identical models. Each
// model part draws from its own stream, so resizing one part leaves the others' weights alone.

/** FNV-1a over the stream name, mixed with the seed. */
function streamSeed(seed: number, stream: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class WeightStream {
  private state: number;

  constructor(seed: number, stream: string) {
    this.state = streamSeed(seed, stream);
  }

  /** mulberry32: a 32-bit generator with good statistical quality for its size. */
  private nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Approximately N(0, 1): Irwin–Hall sum of four uniforms, rescaled to unit variance. */
  normal(): number {
    return (this.uniform() + this.uniform() + this.uniform() + this.uniform() - 2) * Math.sqrt(3);
  }

  /** `n` values ~ N(0, std²). */
  normals(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * std;
    return out;
  }

  /** `n` values uniform in [lo, hi). */
  uniforms(n: number, lo: number, hi: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /**
   * Fills `out` with values uniform in ±std·√3 (variance std²): one draw per value, 4× cheaper
   * than normal(); what the full-size benchmark models use for their billions of weights.
   */
  fillSymmetric(out: Float32Array, std: number): void {
    const scale = (std * Math.sqrt(12)) / 4294967296;
    const shift = std * Math.sqrt(3);
    let state = this.state;
    for (let i = 0; i < out.length; i++) {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = Math.imul(state ^ (state >>> 15), state | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      out[i] = ((t ^ (t >>> 14)) >>> 0) * scale - shift;
    }
    this.state = state;
  }
}

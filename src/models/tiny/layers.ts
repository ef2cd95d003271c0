// Layer building blocks (linear, conv, norm, activations, attention) as ONNX subgraphs with
// weights ~ N(0, gain² / fan_in), so activations keep roughly unit scale through the network.
// The same blocks build the full-size benchmark models (src/models/bench): there `streamed`
// weights are drawn chunk by chunk straight into the side file, one uniform draw per value
// (same variance), which is what makes billions of weights quick to write.
import { ONNX_DATA_TYPE, type GraphBuilder } from '../onnx/builder.js';
import type { WeightStream } from './weights.js';

export interface LayersOptions {
  /** Weights generated chunk by chunk into the graph's external-data sink (default false). */
  streamed?: boolean;
}

export class Layers {
  /** Learned parameters created so far (weights, biases, norm scales and shifts, embeddings). */
  parameters = 0;

  constructor(
    readonly g: GraphBuilder,
    private readonly w: WeightStream,
    private readonly options: LayersOptions = {},
  ) {}

  /** A learned tensor with values of spread `std` around 0. */
  param(prefix: string, dims: readonly number[], std: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    this.parameters += n;
    if (!this.options.streamed) return this.g.floats(prefix, this.w.normals(n, std), dims);
    return this.g.streamedFloats(prefix, dims, (chunk) => this.w.fillSymmetric(chunk, std));
  }

  /** A learned tensor initialised to a constant (norm scales 1, shifts and conv biases 0). */
  constant(prefix: string, dims: readonly number[], value: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    this.parameters += n;
    return this.g.floats(prefix, new Float32Array(n).fill(value), dims);
  }

  /** x[..., inDim] · W[inDim, outDim] (+ bias). */
  linear(x: string, inDim: number, outDim: number, opts: { gain?: number; bias?: boolean; name?: string } = {}): string {
    const name = opts.name ?? 'linear';
    const weight = this.param(`${name}_w`, [inDim, outDim], (opts.gain ?? 1) / Math.sqrt(inDim));
    const y = this.g.op('MatMul', [x, weight]);
    if (!opts.bias) return y;
    return this.g.op('Add', [y, this.param(`${name}_b`, [outDim], 0.1)]);
  }

  /**
   * A k×k convolution keeping the size (or halving it with `stride` 2). 'edge' padding repeats
   * border pixels instead of adding zeros, which keeps a randomly initialised network from
   * drawing a frame around the picture; `pads` sets explicit [top, left, bottom, right] zero pads.
   */
  conv(
    x: string,
    cin: number,
    cout: number,
    k: number,
    opts: { gain?: number; name?: string; padding?: 'zeros' | 'edge'; stride?: number; pads?: readonly number[] } = {},
  ): string {
    const name = opts.name ?? 'conv';
    const fanIn = cin * k * k;
    const weight = this.param(`${name}_w`, [cout, cin, k, k], (opts.gain ?? 1) / Math.sqrt(fanIn));
    const bias = this.constant(`${name}_b`, [cout], 0);
    const p = (k - 1) / 2;
    const strides: Record<string, number[]> = opts.stride ? { strides: [opts.stride, opts.stride] } : {};
    if (opts.padding === 'edge' && p > 0) {
      const padded = this.g.op('Pad', [x, this.g.int64s(`${name}_pads`, [0, 0, p, p, 0, 0, p, p])], { mode: 'edge' });
      return this.g.op('Conv', [padded, weight, bias], { kernel_shape: [k, k], ...strides });
    }
    return this.g.op('Conv', [x, weight, bias], { kernel_shape: [k, k], pads: opts.pads ?? [p, p, p, p], ...strides });
  }

  /** LayerNorm over the last axis (unit scale, zero shift, as freshly initialised). */
  layerNorm(x: string, dim: number, name = 'ln', epsilon = 1e-5): string {
    const scale = this.constant(`${name}_scale`, [dim], 1);
    const shift = this.constant(`${name}_shift`, [dim], 0);
    return this.g.op('LayerNormalization', [x, scale, shift], { axis: -1, epsilon: { f: epsilon } });
  }

  /**
   * GroupNorm over [B, C, H, W] as PyTorch exports it at opset 17: InstanceNormalization over
   * [B, groups, C/groups·H·W], then the per-channel scale and shift.
   */
  groupNorm(x: string, channels: number, opts: { groups?: number; epsilon?: number; name?: string } = {}): string {
    const name = opts.name ?? 'gn';
    const groups = opts.groups ?? 32;
    const grouped = this.g.op('Reshape', [x, this.g.int64s(`${name}_groups`, [0, groups, -1])]);
    const ones = this.g.floats(`${name}_in_scale`, new Float32Array(groups).fill(1), [groups]);
    const zeros = this.g.floats(`${name}_in_bias`, new Float32Array(groups), [groups]);
    const normed = this.g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: { f: opts.epsilon ?? 1e-5 } });
    const back = this.g.op('Reshape', [normed, this.g.op('Shape', [x])]);
    const scale = this.constant(`${name}_scale`, [channels, 1, 1], 1);
    const shift = this.constant(`${name}_shift`, [channels, 1, 1], 0);
    return this.g.op('Add', [this.g.op('Mul', [back, scale]), shift]);
  }

  silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  /** CLIP's quick_gelu: x · sigmoid(1.702 x). */
  quickGelu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [this.g.op('Mul', [x, this.g.scalar('gelu_k', 1.702)])])]);
  }

  /** Exact GELU, x · ½(1 + erf(x/√2)), as PyTorch exports it below opset 20 (ONNX Runtime fuses it). */
  gelu(x: string): string {
    const erf = this.g.op('Erf', [this.g.op('Mul', [x, this.g.scalar('gelu_rsqrt2', Math.SQRT1_2)])]);
    return this.g.op('Mul', [this.g.op('Mul', [x, this.g.scalar('gelu_half', 0.5)]), this.g.op('Add', [erf, this.g.scalar('gelu_one', 1)])]);
  }

  /** Single-head attention: softmax(q kᵀ / √d + mask) v for q [B, N, d], k and v [B, M, d]. */
  attention(q: string, k: string, v: string, d: number, mask?: string): string {
    const kT = this.g.op('Transpose', [k], { perm: [0, 2, 1] });
    let scores = this.g.op('Mul', [this.g.op('MatMul', [q, kT]), this.g.scalar('attn_scale', 1 / Math.sqrt(d))]);
    if (mask) scores = this.g.op('Add', [scores, mask]);
    return this.g.op('MatMul', [this.g.op('Softmax', [scores], { axis: -1 }), v]);
  }

  /** Multi-head attention over q [B, N, heads·d], k and v [B, M, heads·d] → [B, N, heads·d]. */
  multiHeadAttention(q: string, k: string, v: string, heads: number, d: number, mask?: string): string {
    if (heads === 1) return this.attention(q, k, v, d, mask);
    const split = this.g.int64s('mha_split', [0, 0, heads, d]);
    const heads4 = (x: string, perm: number[]) => this.g.op('Transpose', [this.g.op('Reshape', [x, split])], { perm });
    const qh = heads4(q, [0, 2, 1, 3]); // [B, h, N, d]
    const kT = heads4(k, [0, 2, 3, 1]); // [B, h, d, M]
    const vh = heads4(v, [0, 2, 1, 3]); // [B, h, M, d]
    let scores = this.g.op('Mul', [this.g.op('MatMul', [qh, kT]), this.g.scalar('attn_scale', 1 / Math.sqrt(d))]);
    if (mask) scores = this.g.op('Add', [scores, mask]);
    const out = this.g.op('MatMul', [this.g.op('Softmax', [scores], { axis: -1 }), vh]);
    return this.g.op('Reshape', [this.g.op('Transpose', [out], { perm: [0, 2, 1, 3] }), this.g.int64s('mha_merge', [0, 0, heads * d])]);
  }

  /**
   * `count` smooth positional waves [1, count, H, W] over the relative coordinates of the last two
   * axes of a [B, C, H, W] map whose Shape is `shape` (sin of random frequencies and phases), so a
   * layout looks the same at any size.
   */
  positionWaves(shape: string, count: number): string {
    const g = this.g;
    const coords = (axis: number, reshapeTo: number[]) => {
      const n = this.toFloat(g.op('Gather', [shape, g.int64s(`axis${axis}`, [axis], [])], { axis: 0 }));
      const range = g.op('Range', [g.scalar('start', 0), n, g.scalar('delta', 1)]);
      const rel = g.op('Div', [g.op('Add', [range, g.scalar('half', 0.5)]), n]);
      return g.op('Reshape', [rel, g.int64s('coord_shape', reshapeTo)]);
    };
    const wave = (coord: string, name: string) => {
      const freq = g.floats(`${name}_freq`, this.w.uniforms(count, 0.6 * Math.PI, 3 * Math.PI), [1, count, 1, 1]);
      const phase = g.floats(`${name}_phase`, this.w.uniforms(count, 0, 2 * Math.PI), [1, count, 1, 1]);
      return g.op('Sin', [g.op('Add', [g.op('Mul', [coord, freq]), phase])]);
    };
    return g.op('Mul', [wave(coords(2, [1, 1, -1, 1]), 'wave_y'), wave(coords(3, [1, 1, 1, -1]), 'wave_x')]);
  }

  /** Casts any numeric value to the graph's float compute type (float32 unless the graph computes in float16). */
  toFloat(x: string): string {
    return this.g.op('Cast', [x], { to: ONNX_DATA_TYPE[this.g.compute] });
  }
}

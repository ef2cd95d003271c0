// Layer building blocks (linear, conv, norm, activations, attention) as ONNX subgraphs with
// weights ~ N(0, gain² / fan_in), so activations keep roughly unit scale through the network.
import { ONNX_DATA_TYPE, type GraphBuilder } from '../onnx/builder.js';
import type { WeightStream } from './weights.js';

export class Layers {
  constructor(
    readonly g: GraphBuilder,
    private readonly w: WeightStream,
  ) {}

  /** x[..., inDim] · W[inDim, outDim] (+ zero-initialised bias). */
  linear(x: string, inDim: number, outDim: number, opts: { gain?: number; bias?: boolean; name?: string } = {}): string {
    const name = opts.name ?? 'linear';
    const weight = this.g.floats(`${name}_w`, this.w.normals(inDim * outDim, (opts.gain ?? 1) / Math.sqrt(inDim)), [inDim, outDim]);
    const y = this.g.op('MatMul', [x, weight]);
    if (!opts.bias) return y;
    return this.g.op('Add', [y, this.g.floats(`${name}_b`, this.w.normals(outDim, 0.1), [outDim])]);
  }

  /**
   * A k×k convolution keeping the size. 'edge' padding repeats border pixels instead of adding
   * zeros, which keeps a randomly initialised network from drawing a frame around the picture.
   */
  conv(x: string, cin: number, cout: number, k: number, opts: { gain?: number; name?: string; padding?: 'zeros' | 'edge' } = {}): string {
    const name = opts.name ?? 'conv';
    const fanIn = cin * k * k;
    const weight = this.g.floats(`${name}_w`, this.w.normals(cout * fanIn, (opts.gain ?? 1) / Math.sqrt(fanIn)), [cout, cin, k, k]);
    const bias = this.g.floats(`${name}_b`, new Float32Array(cout), [cout]);
    const p = (k - 1) / 2;
    if (opts.padding === 'edge' && p > 0) {
      const padded = this.g.op('Pad', [x, this.g.int64s(`${name}_pads`, [0, 0, p, p, 0, 0, p, p])], { mode: 'edge' });
      return this.g.op('Conv', [padded, weight, bias], { kernel_shape: [k, k] });
    }
    return this.g.op('Conv', [x, weight, bias], { kernel_shape: [k, k], pads: [p, p, p, p] });
  }

  /** LayerNorm over the last axis (unit scale, zero shift, as freshly initialised). */
  layerNorm(x: string, dim: number, name = 'ln'): string {
    const scale = this.g.floats(`${name}_scale`, new Float32Array(dim).fill(1), [dim]);
    const shift = this.g.floats(`${name}_shift`, new Float32Array(dim), [dim]);
    return this.g.op('LayerNormalization', [x, scale, shift], { axis: -1, epsilon: { f: 1e-5 } });
  }

  silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  /** CLIP's quick_gelu: x · sigmoid(1.702 x). */
  quickGelu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [this.g.op('Mul', [x, this.g.scalar('gelu_k', 1.702)])])]);
  }

  /** Single-head attention: softmax(q kᵀ / √d + mask) v for q [B, N, d], k and v [B, M, d]. */
  attention(q: string, k: string, v: string, d: number, mask?: string): string {
    const kT = this.g.op('Transpose', [k], { perm: [0, 2, 1] });
    let scores = this.g.op('Mul', [this.g.op('MatMul', [q, kT]), this.g.scalar('attn_scale', 1 / Math.sqrt(d))]);
    if (mask) scores = this.g.op('Add', [scores, mask]);
    return this.g.op('MatMul', [this.g.op('Softmax', [scores], { axis: -1 }), v]);
  }

  /** Casts any numeric value to float32. */
  toFloat(x: string): string {
    return this.g.op('Cast', [x], { to: ONNX_DATA_TYPE.float32 });
  }
}

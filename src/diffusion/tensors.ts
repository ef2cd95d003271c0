// Tensor helpers that adapt to what a session declares (float16 vs float32). onnxruntime-node
// has no Float16Array on Node 20, so half floats travel as the raw bits in a Uint16Array.
import * as ort from 'onnxruntime-node';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';

export type FloatType = 'float32' | 'float16';

/** A float tensor in the dtype the session expects. */
export function floatTensor(type: FloatType, data: Float32Array, dims: readonly number[]): ort.Tensor {
  return type === 'float16' ? new ort.Tensor('float16', float32ToFloat16(data), dims) : new ort.Tensor('float32', data, dims);
}

/** Reads any float output back as float32. */
export function tensorToFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') {
    const d = t.data as unknown;
    // Newer runtimes may hand back a Float16Array; older ones the raw bits.
    if (d instanceof Uint16Array) return float16ToFloat32(d);
    return Float32Array.from(d as ArrayLike<number>);
  }
  throw new Error(`expected a float tensor, got ${t.type}`);
}

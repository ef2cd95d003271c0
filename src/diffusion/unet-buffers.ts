// The UNet's per-job buffers on the CPU: one sample input and one output, allocated when the
// job starts and rewritten every step, instead of a fresh input array, a fresh float16 copy of
// it and a fresh output allocated inside ONNX Runtime on every step. onnxruntime-node writes a
// run's output into a tensor passed in `fetches` (session.run(feeds, fetches)), so the memory is
// warm and the runtime allocates nothing for it; the values are the same bits either way.
import * as ort from 'onnxruntime-node';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import type { FloatType } from './tensors.js';

/** The CFG-doubled sample, written in float32 and fed in the dtype the UNet declares. */
export class ReusedSample {
  /** Where the step writes its scaled latents (the tensor's own storage for a float32 UNet). */
  readonly values: Float32Array;
  readonly tensor: ort.Tensor;
  private readonly bits?: Uint16Array;

  constructor(type: FloatType, dims: readonly number[]) {
    const n = dims.reduce((a, b) => a * b, 1);
    this.values = new Float32Array(n);
    if (type === 'float16') {
      this.bits = new Uint16Array(n);
      this.tensor = new ort.Tensor('float16', this.bits, dims);
    } else {
      this.tensor = new ort.Tensor('float32', this.values, dims);
    }
  }

  /** The tensor holding `values` as they are now. */
  feed(): ort.Tensor {
    if (this.bits) float32ToFloat16(this.values, this.bits);
    return this.tensor;
  }
}

/** The UNet's output tensor, passed as the run's fetch and read back as float32 every step. */
export class ReusedOutput {
  readonly tensor: ort.Tensor;
  private readonly floats: Float32Array;

  /** `like`: a run's output, whose dtype and shape every later step of the job has. */
  constructor(like: ort.Tensor) {
    const n = like.dims.reduce((a, b) => a * b, 1);
    if (like.type === 'float16') {
      this.tensor = new ort.Tensor('float16', new Uint16Array(n), like.dims);
      this.floats = new Float32Array(n);
    } else if (like.type === 'float32') {
      this.floats = new Float32Array(n);
      this.tensor = new ort.Tensor('float32', this.floats, like.dims);
    } else {
      throw new Error(`expected a float output, got ${like.type}`);
    }
  }

  /** This step's output as float32; overwritten by the next step, so copy what must outlive it. */
  read(): Float32Array {
    if (this.tensor.type === 'float16') float16ToFloat32(this.tensor.data as Uint16Array, this.floats);
    return this.floats;
  }
}

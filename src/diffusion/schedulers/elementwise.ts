// Elementwise tensor arithmetic on flat latents: float64 math, float32 storage (the tolerance of
// diffusers' own parity values is far above the difference to torch's float32 kernels).
import type { NoiseGenerator } from './types.js';

export type Term = readonly [coefficient: number, tensor: Float32Array];

/** Σ coefficient × tensor over the terms, elementwise. */
export function linearCombination(...terms: Term[]): Float32Array {
  const n = terms[0][1].length;
  for (const [, t] of terms) {
    if (t.length !== n) throw new RangeError(`Tensor length mismatch: ${t.length} vs ${n}`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const [c, t] of terms) v += c * t[i];
    out[i] = v;
  }
  return out;
}

export function scale(tensor: Float32Array, factor: number): Float32Array {
  return tensor.map((v) => v * factor);
}

export function clamp(tensor: Float32Array, range: number): Float32Array {
  return tensor.map((v) => Math.min(range, Math.max(-range, v)));
}

/**
 * diffusers' randn_tensor(model_output.shape, generator): one draw for the whole tensor, so the
 * stream matches torch for the same seed.
 */
export function drawNoise(generator: NoiseGenerator | undefined, n: number, scheduler: string): Float32Array {
  if (!generator) {
    throw new Error(`The ${scheduler} scheduler adds noise at every step: pass the job's TorchGenerator to step()`);
  }
  const noise = generator.randn(n);
  if (noise.length !== n) throw new RangeError(`Generator returned ${noise.length} values, expected ${n}`);
  return noise;
}

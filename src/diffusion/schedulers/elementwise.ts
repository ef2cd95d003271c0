// Elementwise tensor arithmetic on flat latents: float64 math, float32 storage (the tolerance of
// diffusers' own parity values is far above the difference to torch's float32 kernels).
import type { ModelOutput, NoiseGenerator } from './types.js';

export type Term = readonly [coefficient: number, tensor: Float32Array];

/** Σ coefficient × tensor over the terms, elementwise, into a fresh array. */
export function linearCombination(...terms: Term[]): Float32Array {
  return combineInto(new Float32Array(terms[0][1].length), terms);
}

/**
 * Σ coefficient × tensor into `out` (which may be one of the terms' tensors: each element reads
 * only its own index). Plain loops, one per term count, no per-element allocation; the sum is
 * accumulated from 0 in term order in float64 and stored as float32, exactly as before.
 */
export function combineInto(out: Float32Array, terms: readonly Term[]): Float32Array {
  const n = out.length;
  for (const [, t] of terms) {
    if (t.length !== n) throw new RangeError(`Tensor length mismatch: ${t.length} vs ${n}`);
  }
  switch (terms.length) {
    case 1: {
      const [[c0, t0]] = terms;
      for (let i = 0; i < n; i++) out[i] = 0 + c0 * t0[i];
      return out;
    }
    case 2: {
      const [[c0, t0], [c1, t1]] = terms;
      for (let i = 0; i < n; i++) out[i] = 0 + c0 * t0[i] + c1 * t1[i];
      return out;
    }
    case 3: {
      const [[c0, t0], [c1, t1], [c2, t2]] = terms;
      for (let i = 0; i < n; i++) out[i] = 0 + c0 * t0[i] + c1 * t1[i] + c2 * t2[i];
      return out;
    }
    case 4: {
      const [[c0, t0], [c1, t1], [c2, t2], [c3, t3]] = terms;
      for (let i = 0; i < n; i++) out[i] = 0 + c0 * t0[i] + c1 * t1[i] + c2 * t2[i] + c3 * t3[i];
      return out;
    }
    default: {
      // Longer sums (LMS order 4 + sample, UniPC's higher orders): accumulate term by term in a
      // float64 scratch, the same order of additions as the cases above.
      const acc = new Float64Array(n);
      for (const [c, t] of terms) for (let i = 0; i < n; i++) acc[i] += c * t[i];
      out.set(acc);
      return out;
    }
  }
}

export function scale(tensor: Float32Array, factor: number): Float32Array {
  const out = new Float32Array(tensor.length);
  for (let i = 0; i < tensor.length; i++) out[i] = tensor[i] * factor;
  return out;
}

export function clamp(tensor: Float32Array, range: number): Float32Array {
  const out = new Float32Array(tensor.length);
  for (let i = 0; i < tensor.length; i++) out[i] = Math.min(range, Math.max(-range, tensor[i]));
  return out;
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

/** What a fused step loop reads of a ModelOutput: plain values, or a guided batch's two halves. */
export interface OutputView {
  values: Float32Array;
  guided: boolean;
  uncond: number;
  cond: number;
  scale: number;
}

export function outputView(m: ModelOutput, n: number): OutputView {
  if (m instanceof Float32Array) {
    if (m.length !== n) throw new RangeError(`Tensor length mismatch: ${m.length} vs ${n}`);
    return { values: m, guided: false, uncond: 0, cond: 0, scale: 0 };
  }
  if (Math.max(m.uncondOffset, m.condOffset) + n > m.batch.length) throw new RangeError(`Guided output too short for ${n} values per half`);
  return { values: m.batch, guided: true, uncond: m.uncondOffset, cond: m.condOffset, scale: m.scale };
}

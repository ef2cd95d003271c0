// Records what a pipeline feeds one of its ONNX sessions, while the real session still runs:
// tests check input shapes and values without stubbing anything.
import * as ort from 'onnxruntime-node';
import type { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import type { LoadedSession } from '../../src/diffusion/sessions.js';

export type Feeds = Record<string, ort.Tensor>;

/**
 * Every later run's feeds of the pipeline's `unet` (or `textEncoder`) session, in order, as
 * they were at that run: the pipeline rewrites its UNet input buffer every step, so each
 * recorded tensor is a copy.
 */
export function recordFeeds(pipe: StableDiffusionPipeline, part: 'unet' | 'textEncoder' = 'unet'): Feeds[] {
  const loaded = (pipe as unknown as Record<string, LoadedSession>)[part];
  const session = loaded.session;
  const run = session.run.bind(session) as (feeds: Feeds, ...rest: unknown[]) => Promise<ort.InferenceSession.ReturnType>;
  const seen: Feeds[] = [];
  session.run = ((feeds: Feeds, ...rest: unknown[]) => {
    seen.push(snapshot(feeds));
    return run(feeds, ...rest);
  }) as typeof session.run;
  return seen;
}

function snapshot(feeds: Feeds): Feeds {
  const copy: Feeds = {};
  for (const [name, t] of Object.entries(feeds)) {
    copy[name] = t.location === 'cpu' ? new ort.Tensor(t.type, (t.data as Float32Array).slice() as never, t.dims) : t;
  }
  return copy;
}

/** Row `i` of a [rows, …] float32 tensor. */
export function row(t: ort.Tensor, i: number): Float32Array {
  const size = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return (t.data as Float32Array).subarray(i * size, (i + 1) * size);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

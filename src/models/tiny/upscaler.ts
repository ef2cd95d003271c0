// A tiny random-weight image upscaler in the shape of Real-ESRGAN ONNX exports: `input`
// [batch, 3, height, width] in [0, 1] → `output` [batch, 3, s·height, s·width], s = 2 or 4.
// A bilinear s× resize plus a small learned-looking residual (3×3 conv, ReLU, 3×3 conv to
// 3·s² channels, DepthToSpace, as ESRGAN's sub-pixel upsampling), clipped to [0, 1]: a
// plausible picture whose every output pixel depends on its neighbours, so tiling and seam
// blending are exercised for real. No config file: the engine detects the scale by running it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

export interface TinyUpscalerOptions {
  /** 2 or 4 (default 4, Real-ESRGAN's usual). */
  scale?: 2 | 4;
  /** float16 input and output, as fp16 exports have (default false). */
  float16?: boolean;
  /** Weight seed (default 1234). */
  seed?: number;
}

const optionsSchema = z.object({
  scale: z.union([z.literal(2), z.literal(4)]).optional(),
  float16: z.boolean().optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
});

const FEATURES = 8;
/** Residual strength: texture on top of the resize, well inside [0, 1]. */
const RESIDUAL_GAIN = 0.15;

export function buildTinyUpscaler(spec: { scale: 2 | 4; float: 'float32' | 'float16'; seed: number }): EncodedModel {
  const s = spec.scale;
  const g = new GraphBuilder({ name: `tiny_upscaler_x${s}`, floatStorage: 'float32' });
  const L = new Layers(g, new WeightStream(spec.seed, `upscaler_x${s}`));
  const x = g.floatInput('input', spec.float, ['batch_size', 3, 'height', 'width']);

  const base = g.op('Resize', [x, '', g.floats('scales', Float32Array.of(1, 1, s, s), [4])], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
  const features = g.op('Relu', [L.conv(x, 3, FEATURES, 3, { name: 'conv_first', padding: 'edge' })]);
  const subpixels = L.conv(features, FEATURES, 3 * s * s, 3, { name: 'conv_up', padding: 'edge', gain: RESIDUAL_GAIN });
  const residual = g.op('DepthToSpace', [subpixels], { blocksize: s, mode: 'CRD' });
  const out = g.op('Clip', [g.op('Add', [base, residual]), g.scalar('lo', 0), g.scalar('hi', 1)]);
  g.floatOutput(out, 'output', spec.float, ['batch_size', 3, 'height_out', 'width_out']);
  return g.encode();
}

/** Writes `dir/model.onnx` (the folder is created if missing). */
export async function createTinyUpscaler(dir: string, options: TinyUpscalerOptions = {}): Promise<void> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`Invalid tiny upscaler options: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  await mkdir(dir, { recursive: true });
  const encoded = buildTinyUpscaler({ scale: o.scale ?? 4, float: o.float16 ? 'float16' : 'float32', seed: o.seed ?? 1234 });
  await writeFile(join(dir, 'model.onnx'), encoded.model);
}

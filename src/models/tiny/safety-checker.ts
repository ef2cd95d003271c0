// A tiny safety checker with the exact signature of real exports (diffusers' conversion script
// and optimum): clip_input [batch, channels, height, width] and images [batch, height, width,
// channels] → out_images (flagged images zeroed) and has_nsfw_concepts (bool [batch]). Instead
// of CLIP and concept embeddings it flags on demand, so tests and bot owners can try
// block/blur/allow without a real checker:
//   'never'               never flags
//   'always'              flags every image
//   { meanAbove: t }      flags an image when the mean of its clip_input (CLIP-normalised, so
//                         about -1.8 for black and +1.9 for white) exceeds t: bright pictures
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { CLIP_DEFAULTS } from '../../diffusion/clip-preprocess.js';

const { onnx } = onnxProto;

export type SafetyCheckerMode = 'never' | 'always' | { meanAbove: number };

export const safetyCheckerModeSchema = z.union([z.enum(['never', 'always']), z.object({ meanAbove: z.number().finite() }).strict()]);

function threshold(mode: SafetyCheckerMode): number {
  if (mode === 'never') return Infinity;
  if (mode === 'always') return -Infinity;
  return mode.meanAbove;
}

/** Appends a graph output of a non-float type (the builder declares float outputs only). */
function withOutput(encoded: EncodedModel, name: string, elemType: number, dims: readonly (number | string)[]): EncodedModel {
  const model = onnx.ModelProto.decode(encoded.model);
  if (!model.graph) throw new Error('encoded model has no graph');
  model.graph.output ??= [];
  model.graph.output.push(
    onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    }),
  );
  return { ...encoded, model: onnx.ModelProto.encode(model).finish() };
}

export function buildSafetyChecker(spec: { mode: SafetyCheckerMode; float: 'float32' | 'float16' }): EncodedModel {
  // Constants stay float32 so a threshold is exact in the float16 variant too.
  const g = new GraphBuilder({ name: 'safety_checker', floatStorage: 'float32' });
  const clip = g.floatInput('clip_input', spec.float, ['batch', 'channels', 'height', 'width']);
  const images = g.floatInput('images', spec.float, ['batch', 'height', 'width', 'channels']);
  const mean = g.op('ReduceMean', [clip], { axes: [1, 2, 3], keepdims: 0 });
  const flags = g.op('Greater', [mean, g.scalar('threshold', threshold(spec.mode))], {}, 'has_nsfw_concepts');
  const mask = g.op('Reshape', [flags, g.int64s('mask_shape', [-1, 1, 1, 1])]);
  // As the real checker does: flagged images come back black (the engine ignores this output).
  const out = g.op('Where', [mask, g.scalar('black', 0), images]);
  g.floatOutput(out, 'out_images', spec.float, ['batch', 'height', 'width', 'channels']);
  return withOutput(g.encode(), 'has_nsfw_concepts', onnx.TensorProto.DataType.BOOL, ['batch']);
}

/** transformers' CLIPImageProcessor config as recent SD repos ship it. */
function preprocessorConfig(): Record<string, unknown> {
  return {
    crop_size: { height: CLIP_DEFAULTS.cropHeight, width: CLIP_DEFAULTS.cropWidth },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    feature_extractor_type: 'CLIPFeatureExtractor',
    image_mean: CLIP_DEFAULTS.mean,
    image_processor_type: 'CLIPImageProcessor',
    image_std: CLIP_DEFAULTS.std,
    resample: 3,
    rescale_factor: 0.00392156862745098,
    size: { shortest_edge: CLIP_DEFAULTS.shortestEdge },
  };
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Writes safety_checker/ and feature_extractor/ into the tiny model at `dir` and records them in
 * model_index.json, or (mode undefined) removes any left from an earlier variant.
 */
export async function writeTinySafetyChecker(dir: string, mode: SafetyCheckerMode | undefined, float: 'float32' | 'float16'): Promise<void> {
  const checkerDir = join(dir, 'safety_checker');
  const extractorDir = join(dir, 'feature_extractor');
  if (mode === undefined) {
    await rm(checkerDir, { recursive: true, force: true });
    await rm(extractorDir, { recursive: true, force: true });
    return;
  }
  await mkdir(checkerDir, { recursive: true });
  await mkdir(extractorDir, { recursive: true });
  await writeFile(join(checkerDir, 'model.onnx'), buildSafetyChecker({ mode, float }).model);
  await writeJson(join(checkerDir, 'config.json'), {
    _name_or_path: 'tiny-safety-checker',
    architectures: ['StableDiffusionSafetyChecker'],
    // Not a real config key: says how this stand-in decides.
    tiny_flag_rule: mode,
  });
  await writeJson(join(extractorDir, 'preprocessor_config.json'), preprocessorConfig());
  const indexPath = join(dir, 'model_index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as Record<string, unknown>;
  index.safety_checker = ['diffusers', 'OnnxRuntimeModel'];
  index.feature_extractor = ['transformers', 'CLIPImageProcessor'];
  index.requires_safety_checker = true;
  await writeJson(indexPath, index);
}

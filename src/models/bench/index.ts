// Full-size random-weight Stable Diffusion models for benchmarks: the real architectures'
// graphs (architectures.ts) in the layout optimum exports, every part's weights in
// model.onnx_data beside model.onnx. Weights are generated chunk by chunk and written as they
// are made, so a 10 GB SDXL UNet needs a few MiB of JavaScript memory. The pipeline loads the
// folder like any export; the pictures are noise, the cost per step is the real model's.
import { closeSync, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ExternalDataOptions, ExternalDataSink } from '../onnx/builder.js';
import { writeClipTokenizerFiles } from '../tokenizer-files.js';
import { LAYOUT_ONLY_PARTS, layoutPlan } from '../tiny/layouts.js';
import { buildTextEncoder, type BuiltGraph } from '../tiny/text-encoder.js';
import { ARCHITECTURES, BENCH_ARCHS, reducedArchitecture, type Architecture, type BenchArch } from './architectures.js';
import { buildBenchUnet } from './unet.js';
import { buildBenchVaeDecoder, buildBenchVaeEncoder } from './vae.js';

export { ARCHITECTURES, BENCH_ARCHS, type Architecture, type BenchArch } from './architectures.js';

export interface BenchModelOptions {
  arch: BenchArch;
  /** float16 weights, inputs, outputs and arithmetic, as real fp16 exports (README "Benchmark models and GPUs"). */
  float16?: boolean;
  seed?: number;
  /** Every width divided by this factor (16 fits all architectures): the same graphs, kilobytes to megabytes. For tests. */
  reduce?: number;
  /** Called after each part is written. */
  onPart?: (part: BenchPartReport) => void;
}

export interface BenchPartReport {
  part: string;
  parameters: number;
  /** model.onnx + model.onnx_data. */
  bytes: number;
  ms: number;
}

const optionsSchema = z.object({
  arch: z.enum(BENCH_ARCHS),
  float16: z.boolean().optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  reduce: z.number().int().min(1).max(64).optional(),
});

const DATA_FILE = 'model.onnx_data';
/** External tensors start on page boundaries, so ONNX Runtime may map them instead of copying. */
const ALIGN = 4096;
const DIFFUSERS_VERSION = '0.30.0';

/** A side file written as the builder produces it. */
class FileSink implements ExternalDataSink {
  readonly fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }
  close(): void {
    closeSync(this.fd);
  }
}

function checkTarget(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder; choose a new or empty folder for the benchmark model.`);
  if (readdirSync(dir).length > 0 && !existsSync(join(dir, 'model_index.json'))) {
    throw new Error(`${dir} is not empty and is not a model folder (no model_index.json); choose a new or empty folder.`);
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Builds one part with its weights streamed into partDir/model.onnx_data, then writes model.onnx. */
async function writePart(partDir: string, part: string, build: (ext: ExternalDataOptions) => BuiltGraph, report?: (r: BenchPartReport) => void) {
  const t0 = performance.now();
  await mkdir(partDir, { recursive: true });
  await rm(join(partDir, 'weights.pb'), { force: true });
  const sink = new FileSink(join(partDir, DATA_FILE));
  let built: BuiltGraph;
  try {
    built = build({ location: DATA_FILE, align: ALIGN, sink });
  } finally {
    sink.close();
  }
  await writeFile(join(partDir, 'model.onnx'), built.model);
  const bytes = statSync(join(partDir, DATA_FILE)).size + built.model.length;
  report?.({ part, parameters: built.parameters, bytes, ms: performance.now() - t0 });
}

/** The configs diffusers and optimum save, with the architecture's values. */
function configs(a: Architecture, vocabSize: number) {
  const plan = layoutPlan(a.sdxl ? 'sdxl' : 'sd', a.textEncoders[0].hidden);
  const u = a.unet;
  const modelIndex = { ...plan.modelIndex(a.scheduler), _name_or_path: a.nameOrPath };
  const scheduler = { ...plan.schedulerConfig(a.scheduler, a.predictionType), timestep_spacing: a.timestepSpacing };
  const textEncoder = (te: Architecture['textEncoders'][number]) => ({
    ...plan.textEncoderConfig(
      { part: te.part, tokenizer: 'tokenizer', hidden: te.hidden, layers: te.layers, hiddenStates: te.hiddenStates, projection: te.projection },
      vocabSize,
    ),
    hidden_act: te.activation,
    intermediate_size: te.intermediate,
    num_attention_heads: te.heads,
    ...(te.projection === undefined ? {} : { projection_dim: te.projection }),
  });
  const downTypes = u.attention.map((attn) => (attn ? 'CrossAttnDownBlock2D' : 'DownBlock2D'));
  const unet: Record<string, unknown> = {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: 'silu',
    attention_head_dim: u.heads,
    block_out_channels: u.channels,
    cross_attention_dim: u.crossAttentionDim,
    down_block_types: downTypes,
    in_channels: 4,
    layers_per_block: u.layersPerBlock,
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    norm_num_groups: u.groups,
    out_channels: 4,
    sample_size: u.sampleSize,
    transformer_layers_per_block: u.transformerDepth,
    up_block_types: [...downTypes].reverse().map((t) => t.replace('Down', 'Up')),
    use_linear_projection: u.linearProjection,
    ...(u.textTime
      ? {
          addition_embed_type: 'text_time',
          addition_time_embed_dim: u.textTime.timeEmbedDim,
          projection_class_embeddings_input_dim: u.textTime.pooled + 6 * u.textTime.timeEmbedDim,
        }
      : {}),
  };
  const vae = {
    _class_name: 'AutoencoderKL',
    _diffusers_version: DIFFUSERS_VERSION,
    act_fn: 'silu',
    block_out_channels: a.vae.channels,
    down_block_types: a.vae.channels.map(() => 'DownEncoderBlock2D'),
    in_channels: 3,
    latent_channels: 4,
    layers_per_block: a.vae.layersPerBlock,
    norm_num_groups: a.vae.groups,
    out_channels: 3,
    sample_size: a.vae.sampleSize,
    scaling_factor: a.vae.scalingFactor,
    up_block_types: a.vae.channels.map(() => 'UpDecoderBlock2D'),
  };
  return { modelIndex, scheduler, textEncoder, unet, vae };
}

/**
 * Writes a full-size (or, with `reduce`, a proportionally shrunk) random-weight model folder
 * of architecture `arch` at `dir`. Refuses a non-empty folder that is not a model.
 */
export async function createBenchModel(dir: string, options: BenchModelOptions): Promise<BenchPartReport[]> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`Invalid benchmark model options: ${z.prettifyError(parsed.error)}`);
  const o = { ...parsed.data, onPart: options.onPart };
  checkTarget(dir);
  await mkdir(dir, { recursive: true });
  const float = o.float16 ? 'float16' : 'float32';
  const seed = o.seed ?? 1234;

  // The real CLIP vocabulary when ../shared has it (49408 tokens), else the small fallback one.
  const { vocabSize: tokenizerVocab } = await writeClipTokenizerFiles(join(dir, 'tokenizer'));
  const base = ARCHITECTURES[o.arch];
  const a = o.reduce && o.reduce > 1 ? reducedArchitecture(o.arch, o.reduce, tokenizerVocab) : base;
  if (tokenizerVocab > a.vocabSize) throw new Error(`tokenizer has ${tokenizerVocab} tokens, more than the text encoder's ${a.vocabSize}`);
  if (a.sdxl) await writeClipTokenizerFiles(join(dir, 'tokenizer_2'), { padToken: '!' });
  else for (const part of LAYOUT_ONLY_PARTS) await rm(join(dir, part), { recursive: true, force: true });

  const c = configs(a, a.vocabSize);
  for (const part of ['scheduler', 'unet', 'vae_decoder', 'vae_encoder', ...a.textEncoders.map((te) => te.part)])
    await mkdir(join(dir, part), { recursive: true });
  await writeJson(join(dir, 'model_index.json'), c.modelIndex);
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), c.scheduler);
  await writeJson(join(dir, 'unet', 'config.json'), c.unet);
  await writeJson(join(dir, 'vae_decoder', 'config.json'), c.vae);
  await writeJson(join(dir, 'vae_encoder', 'config.json'), c.vae);

  const reports: BenchPartReport[] = [];
  const report = (r: BenchPartReport) => {
    reports.push(r);
    o.onPart?.(r);
  };
  for (const te of a.textEncoders) {
    await writeJson(join(dir, te.part, 'config.json'), c.textEncoder(te));
    await writePart(
      join(dir, te.part),
      te.part,
      (externalData) =>
        buildTextEncoder({
          vocabSize: a.vocabSize,
          hidden: te.hidden,
          float,
          seed,
          layers: te.layers,
          heads: te.heads,
          intermediate: te.intermediate,
          activation: te.activation,
          hiddenStates: te.hiddenStates,
          projection: te.projection,
          part: te.part,
          externalData,
          streamed: true,
          computeFloat16: float === 'float16',
        }),
      report,
    );
  }
  await writePart(join(dir, 'unet'), 'unet', (externalData) => buildBenchUnet({ arch: a.unet, float, seed, externalData }), report);
  await writePart(join(dir, 'vae_decoder'), 'vae_decoder', (externalData) => buildBenchVaeDecoder({ arch: a.vae, float, seed, externalData }), report);
  await writePart(join(dir, 'vae_encoder'), 'vae_encoder', (externalData) => buildBenchVaeEncoder({ arch: a.vae, float, seed, externalData }), report);
  return reports;
}

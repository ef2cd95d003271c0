// A tiny random LoRA for a given model folder: one module for every weight the model's UNet (or
// SD3 transformer) and CLIP text encoders expose by name (export-names.ts, or a real export), in
// kohya's or PEFT's layout (the transformer's kohya names: `lora_transformer_` + diffusers' path).
// The same seed gives the same numbers in both layouts, so the two must merge to the same model.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import { indexTargets, type WeightTarget } from '../../diffusion/lora/onnx-targets.js';
import { encodeSafetensors } from '../../diffusion/lora/safetensors.js';
import { WeightStream } from './weights.js';

export interface TinyLoraOptions {
  /** The model folder whose weights the LoRA targets. */
  model: string;
  format?: 'kohya' | 'peft';
  rank?: number;
  /** alpha (default rank / 2, so the scale alpha / rank is 0.5). */
  alpha?: number;
  seed?: number;
  /** Which parts (default: the UNet or transformer and every CLIP text encoder). */
  parts?: TinyLoraPart[];
}

const TINY_LORA_PARTS = ['unet', 'transformer', 'text_encoder', 'text_encoder_2'] as const;
type TinyLoraPart = (typeof TINY_LORA_PARTS)[number];

const optionsSchema = z.object({
  model: z.string().min(1),
  format: z.enum(['kohya', 'peft']).optional(),
  rank: z.number().int().min(1).max(64).optional(),
  alpha: z.number().positive().optional(),
  seed: z.number().int().min(0).optional(),
  parts: z.array(z.enum(TINY_LORA_PARTS)).optional(),
});

async function targetsOf(path: string): Promise<WeightTarget[]> {
  const graph = onnxProto.onnx.ModelProto.decode(await readFile(path)).graph;
  return graph ? [...new Set(indexTargets(graph).values())] : [];
}

export async function createTinyLora(file: string, options: TinyLoraOptions): Promise<{ modules: number }> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`Invalid tiny LoRA options: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  const format = o.format ?? 'kohya';
  const rank = o.rank ?? 4;
  const alpha = o.alpha ?? rank / 2;
  const sdxl = existsSync(join(o.model, 'text_encoder_2', 'model.onnx'));
  const parts = (o.parts ?? TINY_LORA_PARTS).filter((p) => existsSync(join(o.model, p, 'model.onnx')));
  const kohyaPrefix = { unet: 'lora_unet_', transformer: 'lora_transformer_', text_encoder: sdxl ? 'lora_te1_' : 'lora_te_', text_encoder_2: 'lora_te2_' };
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  let modules = 0;
  for (const part of parts) {
    const w = new WeightStream(o.seed ?? 7, `lora_${part}`);
    const targets = (await targetsOf(join(o.model, part, 'model.onnx'))).sort((a, b) => a.module.localeCompare(b.module));
    for (const t of targets) {
      const spatial = t.dims.length === 4 ? t.dims.slice(2) : [];
      const inFeatures = t.inner / spatial.reduce((a, b) => a * b, 1);
      const down = w.normals(rank * t.inner, 1 / Math.sqrt(t.inner));
      const up = w.normals(t.out * rank, 1 / Math.sqrt(rank));
      const downShape = [rank, inFeatures, ...spatial];
      const upShape = spatial.length ? [t.out, rank, 1, 1] : [t.out, rank];
      if (format === 'kohya') {
        const base = `${kohyaPrefix[part]}${t.module.replace(/\./g, '_')}`;
        tensors[`${base}.lora_down.weight`] = { dtype: 'F32', shape: downShape, data: down };
        tensors[`${base}.lora_up.weight`] = { dtype: 'F32', shape: upShape, data: up };
        tensors[`${base}.alpha`] = { dtype: 'F32', shape: [], data: Float32Array.of(alpha) };
      } else {
        const base = `${part}.${t.module}`;
        tensors[`${base}.lora_A.weight`] = { dtype: 'F32', shape: downShape, data: down };
        tensors[`${base}.lora_B.weight`] = { dtype: 'F32', shape: upShape, data: up };
      }
      modules++;
    }
  }
  if (modules === 0) {
    throw new Error(`${o.model} exposes no weight names for a LoRA to target; create the model with --export-names (create-tiny … --export-names).`);
  }
  const metadata: Record<string, string> =
    format === 'peft' ? { lora_alpha: String(alpha), r: String(rank) } : { ss_network_dim: String(rank), ss_network_alpha: String(alpha) };
  await writeFile(file, encodeSafetensors(tensors, metadata));
  return { modules };
}

/** The token-table width of a text encoder (the Gather over input_ids). */
async function textWidth(path: string): Promise<number | undefined> {
  const graph = onnxProto.onnx.ModelProto.decode(await readFile(path)).graph;
  const gather = graph?.node?.find((n) => n.opType === 'Gather' && (n.input ?? []).includes('input_ids'));
  let data = gather?.input?.[0];
  const cast = graph?.node?.find((n) => n.output?.includes(data ?? ''));
  if (cast?.opType === 'Cast') data = cast.input?.[0];
  const table = graph?.initializer?.find((t) => t.name === data);
  return table?.dims?.length === 2 ? Number(table.dims[1]) : undefined;
}

/**
 * A tiny random textual-inversion embedding for a model: `emb_params` [vectors, width] (SD 1.x),
 * or `clip_l` + `clip_g` when the model has a second text encoder (SDXL).
 */
export async function createTinyEmbedding(file: string, options: { model: string; vectors?: number; seed?: number }): Promise<{ vectors: number }> {
  const n = options.vectors ?? 2;
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error('vectors must be 1 to 16');
  const w = new WeightStream(options.seed ?? 11, 'embedding');
  const width1 = await textWidth(join(options.model, 'text_encoder', 'model.onnx'));
  if (!width1) throw new Error(`${options.model}/text_encoder has no token table (a Gather of input_ids)`);
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  const te2 = join(options.model, 'text_encoder_2', 'model.onnx');
  if (existsSync(te2)) {
    const width2 = await textWidth(te2);
    if (!width2) throw new Error(`${options.model}/text_encoder_2 has no token table`);
    tensors.clip_l = { dtype: 'F32', shape: [n, width1], data: w.normals(n * width1, 1) };
    tensors.clip_g = { dtype: 'F32', shape: [n, width2], data: w.normals(n * width2, 1) };
  } else {
    tensors.emb_params = { dtype: 'F32', shape: [n, width1], data: w.normals(n * width1, 1) };
  }
  await writeFile(file, encodeSafetensors(tensors));
  return { vectors: n };
}

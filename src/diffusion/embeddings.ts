// Textual-inversion embeddings (A1111 convention): `$MODELS_DIR/embeddings/<name>.safetensors`,
// used by writing <name> in the prompt or negative prompt. Each file's vectors are appended to
// the text encoder's token-embedding table (the initializer its input_ids Gather reads) as new
// ids, and the tokenizer maps the name to them. SD 1.x files hold `emb_params` (or
// `string_to_param.*`), SDXL files `clip_l` (text_encoder) and `clip_g` (text_encoder_2).
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { logger } from '../log.js';
import { ModelError } from './errors.js';
import { float32ToFloat16 } from './float16.js';
import { parseSafetensors, tensorToFloat32 } from './lora/safetensors.js';
import type { InMemoryModel, ModelSource } from './sessions.js';

const { onnx } = onnxProto;

export const EMBEDDINGS_DIR = 'embeddings';

export interface EmbeddingFile {
  name: string;
  path: string;
}

/** Installed embeddings, by file name. */
export function listEmbeddings(modelsDir: string): EmbeddingFile[] {
  const dir = join(modelsDir, EMBEDDINGS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.toLowerCase().endsWith('.safetensors'))
    .sort()
    .map((f) => ({ name: f.replace(/\.safetensors$/i, ''), path: join(dir, f) }));
}

/** The vectors [n, width] an embedding holds for one text encoder, or undefined when none fit. */
async function vectorsFor(file: EmbeddingFile, part: 'text_encoder' | 'text_encoder_2', width: number): Promise<Float32Array[] | undefined> {
  const st = parseSafetensors(await readFile(file.path), basename(file.path));
  const keys = part === 'text_encoder_2' ? ['clip_g'] : ['clip_l', 'emb_params', ...[...st.tensors.keys()].filter((k) => k.startsWith('string_to_param.'))];
  const tensor = keys.map((k) => st.tensors.get(k)).find((t) => t !== undefined);
  if (!tensor) return undefined;
  const shape = tensor.shape.length === 1 ? [1, tensor.shape[0]] : tensor.shape;
  if (shape.length !== 2 || shape[1] !== width) return undefined;
  const data = tensorToFloat32(tensor);
  return Array.from({ length: shape[0] }, (_, i) => data.subarray(i * width, (i + 1) * width));
}

/** The initializer the input_ids Gather reads: the token-embedding table [vocab, width]. */
function tokenTable(graph: onnxProto.onnx.IGraphProto): onnxProto.onnx.ITensorProto | undefined {
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const producer = new Map<string, onnxProto.onnx.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Gather') continue;
    let indices = node.input?.[1] ?? '';
    for (let hops = 0; indices !== 'input_ids' && hops < 3; hops++) indices = producer.get(indices)?.input?.[0] ?? '';
    if (indices !== 'input_ids') continue;
    let data = node.input?.[0] ?? '';
    for (let hops = 0; !inits.has(data) && hops < 3; hops++) data = producer.get(data)?.input?.[0] ?? '';
    const t = inits.get(data);
    if (t && (t.dims ?? []).length === 2) return t;
  }
  return undefined;
}

async function readSource(source: ModelSource): Promise<InMemoryModel> {
  if (typeof source !== 'string') return source;
  const bytes = await readFile(source);
  const model = onnx.ModelProto.decode(bytes);
  const names = new Set<string>();
  for (const t of model.graph?.initializer ?? []) for (const e of t.externalData ?? []) if (e.key === 'location' && e.value) names.add(e.value);
  const externalData = await Promise.all([...names].map(async (path) => ({ path, data: await readFile(join(dirname(source), path)) })));
  return { bytes, externalData, label: source };
}

/**
 * Appends the embeddings that fit this text encoder to its token table. Returns the model to
 * load and each embedding's new ids (by name); embeddings of another width are skipped.
 */
export async function extendTextEncoder(
  source: ModelSource,
  part: 'text_encoder' | 'text_encoder_2',
  files: readonly EmbeddingFile[],
): Promise<{ source: ModelSource; ids: Map<string, number[]> }> {
  const ids = new Map<string, number[]>();
  if (files.length === 0) return { source, ids };
  const mem = await readSource(source);
  const model = onnx.ModelProto.decode(mem.bytes);
  const table = model.graph ? tokenTable(model.graph) : undefined;
  if (!table) throw new ModelError(`${mem.label}: no token-embedding table (a Gather of input_ids) to add embeddings to. Re-export the text encoder.`);
  const [vocab, width] = (table.dims ?? []).map(Number);
  const fp16 = table.dataType === onnx.TensorProto.DataType.FLOAT16;
  const elem = fp16 ? 2 : 4;
  let raw: Uint8Array;
  if (table.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((table.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const file = mem.externalData.find((e) => e.path === kv.get('location'));
    if (!file) throw new ModelError(`${mem.label}: the token table's external data is missing.`);
    const offset = Number(kv.get('offset') ?? 0);
    raw = file.data.subarray(offset, offset + vocab * width * elem);
  } else raw = table.rawData ?? new Uint8Array();
  const added: Float32Array[] = [];
  for (const f of files) {
    const vectors = await vectorsFor(f, part, width);
    if (!vectors) {
      logger.warn({ embedding: f.name, part, width }, 'embedding skipped: it has no vectors of this text encoder width (another model family)');
      continue;
    }
    ids.set(
      f.name,
      vectors.map((_, i) => vocab + added.length + i),
    );
    added.push(...vectors);
  }
  if (added.length === 0) return { source, ids };
  const extra = new Float32Array(added.length * width);
  added.forEach((v, i) => extra.set(v, i * width));
  const extraBytes = fp16 ? new Uint8Array(float32ToFloat16(extra).buffer) : new Uint8Array(extra.buffer);
  const grown = new Uint8Array(raw.length + extraBytes.length);
  grown.set(raw);
  grown.set(extraBytes, raw.length);
  table.rawData = grown;
  table.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  table.externalData = [];
  table.dims = [vocab + added.length, width];
  return { source: { bytes: onnx.ModelProto.encode(model).finish(), externalData: mem.externalData, label: mem.label }, ids };
}

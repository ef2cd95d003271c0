// Blends LoRAs into one ONNX model part in memory: W' = W + Σ weight · (alpha / rank) · up · down,
// written over the weight bytes where they lie (inside model.onnx, or in its external-data file),
// so the merged model is the file's own bytes, changed, and no second copy of the weights is
// made. ONNX Runtime then builds the session from those bytes (sessions.ts, InMemoryModel).
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { ModelError } from '../errors.js';
import type { InMemoryModel } from '../sessions.js';
import { fromFloat16Bits, toFloat16Bits } from '../float16.js';
import type { LoraFile, LoraModule, LoraPart } from './lora-file.js';
import { indexTargets, type WeightTarget } from './onnx-targets.js';
import { tensorToFloat32 } from './safetensors.js';

const { onnx } = onnxProto;

export interface LoraChoice {
  lora: LoraFile;
  weight: number;
}

export interface PartMerge {
  model: InMemoryModel;
  /** Per LoRA name: modules of this part that were applied, and those with no matching weight. */
  matched: Map<string, number>;
  unmatched: Map<string, string[]>;
}

/** fs.readFile stops at 2 GiB; full-size UNets' weight files are bigger. */
async function readWhole(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafe(size);
    for (let off = 0; off < size; ) {
      const { bytesRead } = await fh.read(buf, off, Math.min(size - off, 1 << 30), off);
      if (bytesRead === 0) throw new Error(`unexpected end of ${path}`);
      off += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** Where a tensor's bytes are: a view of model.onnx (raw_data) or of its external-data file. */
function tensorBytes(t: onnxProto.onnx.ITensorProto, external: Map<string, Buffer>): Uint8Array | undefined {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const file = external.get(kv.get('location') ?? '');
    if (!file) return undefined;
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : file.length - offset;
    return file.subarray(offset, offset + length);
  }
  return t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
}

/**
 * scale · up · down added into `acc`, laid out as the stored weight, so the innermost loop runs
 * over contiguous memory in both layouts (a transposed walk is many times slower on big weights).
 * Per element the terms are summed over the rank in order, in float64, rounded once per term.
 */
function accumulate(acc: Float32Array, m: LoraModule, scale: number, t: WeightTarget): void {
  const up = tensorToFloat32(m.up);
  const down = tensorToFloat32(m.down);
  const { out, inner } = t;
  const r = m.rank;
  if (t.layout === 'out_in') {
    for (let o = 0; o < out; o++) {
      const row = o * inner;
      for (let k = 0; k < r; k++) {
        const u = up[o * r + k] * scale;
        if (u === 0) continue;
        const d = k * inner;
        for (let i = 0; i < inner; i++) acc[row + i] += u * down[d + i];
      }
    }
    return;
  }
  // [in, out]: acc[i, o] += down[k, i] · (scale · up[o, k]), with up transposed once (kept in float64).
  const upT = new Float64Array(r * out);
  for (let o = 0; o < out; o++) for (let k = 0; k < r; k++) upT[k * out + o] = up[o * r + k] * scale;
  for (let i = 0; i < inner; i++) {
    const row = i * out;
    for (let k = 0; k < r; k++) {
      const d = down[k * inner + i];
      if (d === 0) continue;
      const u = k * out;
      for (let o = 0; o < out; o++) acc[row + o] += upT[u + o] * d;
    }
  }
}

/** Whether the module's up · down has the target's shape ([out, r(,1,1)] · [r, inner…]). */
function fits(m: LoraModule, t: WeightTarget): boolean {
  const upSpatial = m.up.shape.slice(2).reduce((a, b) => a * b, 1);
  const downInner = m.down.shape.slice(1).reduce((a, b) => a * b, 1);
  return m.up.shape[0] === t.out && upSpatial === 1 && downInner === t.inner;
}

/** float16 bits → float32, as a table: 65536 lookups beat decoding each half. */
let halfTable: Float32Array | undefined;
function halves(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromFloat16Bits(h);
  }
  return halfTable;
}

/** Adds delta (already in the stored layout) onto the stored weight, in its dtype. */
function addInto(bytes: Uint8Array, t: WeightTarget, delta: Float32Array): void {
  const n = delta.length;
  if (t.dtype === 'float32') {
    const aligned = bytes.byteOffset % 4 === 0;
    const w = aligned ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Float32Array(new Uint8Array(bytes).buffer);
    for (let j = 0; j < n; j++) w[j] += delta[j];
    if (!aligned) bytes.set(new Uint8Array(w.buffer));
  } else {
    const table = halves();
    const aligned = bytes.byteOffset % 2 === 0;
    const w = aligned ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(new Uint8Array(bytes).buffer);
    for (let j = 0; j < n; j++) if (delta[j] !== 0) w[j] = toFloat16Bits(table[w[j]] + delta[j]);
    if (!aligned) bytes.set(new Uint8Array(w.buffer));
  }
}

/**
 * Reads `modelPath` (and its external data) and merges the given LoRAs' modules for `part`.
 * LoRAs at weight 0 are skipped, so the result is the file's bytes unchanged.
 */
export async function mergePart(modelPath: string, part: LoraPart, choices: readonly LoraChoice[]): Promise<PartMerge> {
  const file = await readWhole(modelPath);
  const model = onnx.ModelProto.decode(file);
  const graph = model.graph;
  if (!graph) throw new ModelError(`${modelPath} has no graph. Re-export the model.`);
  const externalNames = new Set<string>();
  for (const t of graph.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    for (const e of t.externalData ?? []) if (e.key === 'location' && e.value) externalNames.add(e.value);
  }
  const external = new Map<string, Buffer>();
  for (const name of externalNames) external.set(name, await readWhole(join(dirname(modelPath), name)));

  const targets = indexTargets(graph);
  const matched = new Map<string, number>();
  const unmatched = new Map<string, string[]>();
  // Each target's modules, so several LoRAs on one weight are summed first and rounded once.
  const plan = new Map<WeightTarget, { m: LoraModule; scale: number }[]>();
  for (const { lora, weight } of choices) {
    let hits = 0;
    const misses: string[] = [];
    for (const m of lora.modules) {
      if (m.part !== part) continue;
      const t = targets.get(m.key);
      if (!t || !fits(m, t)) {
        misses.push(m.fileKey);
        continue;
      }
      hits++;
      if (weight !== 0) plan.set(t, [...(plan.get(t) ?? []), { m, scale: weight * m.scale }]);
    }
    matched.set(lora.name, hits);
    unmatched.set(lora.name, misses);
  }

  let reencode = false;
  for (const [t, mods] of plan) {
    const bytes = tensorBytes(t.tensor, external);
    const delta = new Float32Array(t.out * t.inner);
    for (const { m, scale } of mods) accumulate(delta, m, scale, t);
    if (bytes) {
      addInto(bytes, t, delta);
      // protobufjs hands out raw_data as views of the input; a copy would need re-encoding.
      if (t.tensor.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL && bytes.buffer !== file.buffer) reencode = true;
    } else if (t.dtype === 'float32' && t.tensor.floatData && t.tensor.floatData.length === delta.length) {
      const w = t.tensor.floatData;
      for (let j = 0; j < delta.length; j++) w[j] = Math.fround(w[j] + delta[j]);
      reencode = true;
    } else {
      throw new ModelError(`${modelPath}: weight ${t.tensor.name} is stored in a way the LoRA merge cannot change. Re-export the model.`);
    }
  }
  const bytes = reencode ? onnx.ModelProto.encode(model).finish() : file;
  return {
    model: { bytes, externalData: [...external].map(([path, data]) => ({ path, data })), label: modelPath },
    matched,
    unmatched,
  };
}

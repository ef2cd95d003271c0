// A LoRA file's modules in one shape, whatever layout wrote it: kohya / A1111
// (`lora_unet_…`, `lora_te_…`, `lora_te1_/lora_te2_…` + `.lora_down/.lora_up.weight` + `.alpha`)
// or diffusers / PEFT (`unet.….lora_A/.lora_B.weight`, `text_encoder.…`, old `.lora.down/up`).
// SD3: diffusers' `transformer.transformer_blocks.N.…` and sd-scripts' SAI MMDiT names
// (`lora_unet_joint_blocks_N_x_block_attn_qkv`, mapped to diffusers' modules in mmdit-names.ts).
// Module paths become one key form, the module path with every `.` as `_`, which is what
// kohya writes, so both layouts meet the same ONNX names (onnx-targets.ts).
import { basename } from 'node:path';
import { InputError } from '../errors.js';
import { isSd3TransformerPath, type MmditMapping, mmditModules } from './mmdit-names.js';
import { tensorToFloat32, type SafetensorsFile, type SafetensorsTensor } from './safetensors.js';

/** The model parts a LoRA can change ('transformer': SD3's MMDiT). */
export type LoraPart = 'unet' | 'transformer' | 'text_encoder' | 'text_encoder_2';
export const LORA_PARTS: readonly LoraPart[] = ['unet', 'transformer', 'text_encoder', 'text_encoder_2'];
/** The denoisers: a LoRA for one of them is for that model family. */
export const DENOISER_PARTS: readonly LoraPart[] = ['unet', 'transformer'];

export interface LoraModule {
  part: LoraPart;
  /** Module path with `_` for `.` (kohya's spelling), e.g. down_blocks_0_attentions_0_…_to_q. */
  key: string;
  /** The name as the file spells it (for warnings). */
  fileKey: string;
  down: SafetensorsTensor;
  up: SafetensorsTensor;
  rank: number;
  /** alpha / rank, the scale before the user's weight. */
  scale: number;
}

export interface LoraFile {
  name: string;
  format: 'kohya' | 'peft';
  modules: LoraModule[];
  /** Keys the parser did not understand (LoCon/LoHa extras, norms…), reported as unmatched. */
  unsupported: string[];
}

const KOHYA_PREFIX: [string, LoraPart][] = [
  ['lora_unet_', 'unet'],
  ['lora_transformer_', 'transformer'],
  ['lora_te1_', 'text_encoder'],
  ['lora_te2_', 'text_encoder_2'],
  ['lora_te_', 'text_encoder'],
];
const PEFT_PREFIX: [string, LoraPart][] = [
  ['unet.', 'unet'],
  ['text_encoder_2.', 'text_encoder_2'],
  ['text_encoder.', 'text_encoder'],
  ['transformer.', 'transformer'],
];
/** PEFT's own save (`base_model.model.…`) and bare module paths: the denoiser, named by the path. */
const PEFT_BARE_PREFIX = 'base_model.model.';
/** T5 (SD3's text_encoder_3) is not merged: its keys are reported as unmatched. */
const UNMERGED_PREFIXES = ['text_encoder_3.', 'lora_te3_'];

const toKey = (dotted: string) => dotted.replace(/\./g, '_');

interface Pending {
  part: LoraPart;
  key: string;
  fileKey: string;
  down?: SafetensorsTensor;
  up?: SafetensorsTensor;
  alpha?: number;
}

/** kohya: `lora_unet_x_y.lora_down.weight` → part, key and role. */
function kohyaName(name: string): { part: LoraPart; key: string; role: 'down' | 'up' | 'alpha' } | undefined {
  const m = /^(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(name);
  if (!m) return undefined;
  const prefix = KOHYA_PREFIX.find(([p]) => m[1].startsWith(p));
  if (!prefix) return undefined;
  const role = m[2] === 'alpha' ? 'alpha' : m[2].startsWith('lora_down') ? 'down' : 'up';
  const key = m[1].slice(prefix[0].length);
  // sd-scripts' SD3 LoRAs keep the `lora_unet_` prefix on the MMDiT's modules (SAI's or diffusers' names).
  const part = prefix[1] === 'unet' && (mmditModules(key) || isSd3TransformerPath(key)) ? 'transformer' : prefix[1];
  return { part, key, role };
}

/** PEFT / diffusers: `unet.a.b.lora_A.weight`, `a.b.lora.down.weight`, `…processor.to_q_lora.down.weight`. */
function peftName(name: string): { part: LoraPart; key: string; role: 'down' | 'up' | 'alpha' } | undefined {
  const m = /^(.+?)\.(lora_A\.weight|lora_B\.weight|lora\.down\.weight|lora\.up\.weight|lora_A\.default\.weight|lora_B\.default\.weight|alpha)$/.exec(name);
  if (!m) return undefined;
  let path = m[1];
  if (UNMERGED_PREFIXES.some((p) => path.startsWith(p))) return undefined;
  if (path.startsWith(PEFT_BARE_PREFIX)) path = path.slice(PEFT_BARE_PREFIX.length);
  let part: LoraPart = isSd3TransformerPath(path) || mmditModules(toKey(path)) ? 'transformer' : 'unet';
  const prefix = PEFT_PREFIX.find(([p]) => path.startsWith(p));
  if (prefix) {
    part = prefix[1];
    path = path.slice(prefix[0].length);
  }
  // diffusers' attention-processor LoRAs: attn1.processor.to_q_lora → attn1.to_q, to_out_lora → to_out.0.
  path = path.replace(/\.processor\.(to_[qkv])_lora$/, '.$1').replace(/\.processor\.to_out_lora$/, '.to_out.0');
  const role = m[2] === 'alpha' ? 'alpha' : /lora_A|down/.test(m[2]) ? 'down' : 'up';
  return { part, key: toKey(path), role };
}

/** PEFT keeps alpha in its adapter config; diffusers and some converters copy it into the metadata. */
function metadataAlpha(meta: Record<string, string>): number | undefined {
  const direct = Number(meta.lora_alpha ?? meta.alpha);
  if (Number.isFinite(direct) && direct > 0) return direct;
  for (const v of Object.values(meta)) {
    if (!v.includes('lora_alpha')) continue;
    try {
      const found = JSON.stringify(JSON.parse(v)).match(/"lora_alpha":\s*([0-9.]+)/);
      if (found && Number(found[1]) > 0) return Number(found[1]);
    } catch {
      // Not JSON: ignore this entry.
    }
  }
  return undefined;
}

/** `rows` rows of a 2-D [out, rank] up matrix from `start`, as float32. */
function upRows(up: Float32Array, rank: number, start: number, rows: number): SafetensorsTensor {
  const data = up.slice(start * rank, (start + rows) * rank);
  return { dtype: 'F32', shape: [rows, rank], bytes: new Uint8Array(data.buffer) };
}

/**
 * An SAI-named MMDiT module as diffusers' modules: the fused qkv's up rows in three, the down
 * matrix shared (the delta of each is its rows of up · down); AdaLayerNormContinuous's halves
 * swapped. Undefined when the up matrix cannot be cut that way.
 */
function splitMmditModule(m: LoraModule, mapping: MmditMapping): LoraModule[] | undefined {
  const spatial = m.up.shape.slice(2).reduce((a, b) => a * b, 1);
  const chunks = mapping.modules.length;
  const swap = mapping.swapHalves === 'always' || (mapping.swapHalves === 'when-two-chunks' && m.up.shape[0] === 2 * (m.down.shape[1] ?? 0));
  if (chunks === 1 && !swap) return [{ ...m, key: toKey(mapping.modules[0]) }];
  const out = m.up.shape[0];
  if (m.up.shape.length !== 2 || spatial !== 1 || out % chunks !== 0 || (swap && out % 2 !== 0)) return undefined;
  let up = tensorToFloat32(m.up);
  if (swap) {
    const half = (out / 2) * m.rank;
    const swapped = new Float32Array(up.length);
    swapped.set(up.subarray(half), 0);
    swapped.set(up.subarray(0, half), half);
    up = swapped;
  }
  const rows = out / chunks;
  // One file module, several model modules: name each in reports as `file key (module)`.
  const fileKey = (module: string) => (chunks > 1 ? `${m.fileKey} (${module})` : m.fileKey);
  return mapping.modules.map((module, i) => ({ ...m, key: toKey(module), fileKey: fileKey(module), up: upRows(up, m.rank, i * rows, rows) }));
}

/** Reads the LoRA modules out of a parsed safetensors file (`path` names it in messages). */
export function loraFromSafetensors(file: SafetensorsFile, path: string): LoraFile {
  const name = basename(path).replace(/\.safetensors$/i, '');
  const pending = new Map<string, Pending>();
  const unsupported: string[] = [];
  let kohya = 0;
  let peft = 0;
  for (const [tensorName, tensor] of file.tensors) {
    const k = kohyaName(tensorName);
    const parsed = k ?? peftName(tensorName);
    if (!parsed) {
      unsupported.push(tensorName);
      continue;
    }
    if (k) kohya++;
    else peft++;
    const id = `${parsed.part}:${parsed.key}`;
    const entry = pending.get(id) ?? { part: parsed.part, key: parsed.key, fileKey: tensorName.replace(/\.(lora_.*|alpha)$/, '') };
    if (parsed.role === 'alpha') {
      if (tensor.bytes.length > 0) entry.alpha = tensorToFloat32(tensor)[0];
    } else entry[parsed.role] = tensor;
    pending.set(id, entry);
  }
  if (pending.size === 0) {
    throw new InputError(
      `${basename(path)} has no LoRA weights this bot understands (kohya's lora_down/lora_up or PEFT's lora_A/lora_B). ` +
        'LyCORIS variants (LoHa, LoKr) and full checkpoints are not LoRAs it can apply.',
    );
  }
  const fallbackAlpha = metadataAlpha(file.metadata);
  const modules: LoraModule[] = [];
  for (const p of pending.values()) {
    if (!p.down || !p.up) {
      unsupported.push(p.fileKey);
      continue;
    }
    const rank = p.down.shape[0];
    if (!rank || p.up.shape[1] !== rank)
      throw new InputError(
        `${basename(path)}: ${p.fileKey} has up ${JSON.stringify(p.up.shape)} and down ${JSON.stringify(p.down.shape)} that do not multiply.`,
      );
    const alpha = p.alpha ?? fallbackAlpha ?? rank;
    const module: LoraModule = { part: p.part, key: p.key, fileKey: p.fileKey, down: p.down, up: p.up, rank, scale: alpha / rank };
    const sai = p.part === 'transformer' ? mmditModules(p.key) : undefined;
    if (!sai) {
      modules.push(module);
      continue;
    }
    const split = splitMmditModule(module, sai);
    if (split) modules.push(...split);
    else unsupported.push(p.fileKey);
  }
  return { name, format: kohya >= peft ? 'kohya' : 'peft', modules, unsupported };
}

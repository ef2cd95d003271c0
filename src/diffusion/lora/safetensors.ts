// safetensors reading (the format is an 8-byte little-endian header length, a JSON header and
// raw tensor bytes): small enough to parse here instead of adding a dependency. Pickled
// PyTorch files (.pt, .ckpt, .bin) are refused before anything is decoded: unpickling runs code.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { fromFloat16Bits } from '../float16.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** The tensor's raw bytes (a view into the file). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  /** `__metadata__` (string → string), empty when absent. */
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
  /** Where the tensor data starts (8 + header length): what A1111's LoRA hash covers. */
  dataOffset: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.number().int().min(0)),
  data_offsets: z.tuple([z.number().int().min(0), z.number().int().min(0)]),
});

/** Whether the bytes look like a PyTorch pickle: a zip archive (torch.save ≥ 1.6) or a raw pickle stream. */
function looksPickled(bytes: Uint8Array): boolean {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return true;
  return bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
}

function pickleMessage(name: string): string {
  return (
    `${name} is a pickled PyTorch file (.pt/.ckpt/.bin), which is refused: loading pickles can run arbitrary code. ` +
    'Use the .safetensors version of it (most LoRAs and embeddings are published as .safetensors).'
  );
}

/** Parses safetensors bytes; `name` is used in the messages. Throws InputError on anything malformed. */
export function parseSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  if (looksPickled(bytes)) throw new InputError(pickleMessage(name));
  const bad = (why: string) => new InputError(`${name} is not a valid .safetensors file: ${why}.`);
  if (bytes.length < 8) throw bad('it is shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > bytes.length) throw bad(`header length ${headerLen} does not fit the file`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8'));
  } catch {
    throw bad('its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('its header is not a JSON object');
  const dataOffset = 8 + headerLen;
  const dataLen = bytes.length - dataOffset;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [key, value] of Object.entries(header)) {
    if (key === '__metadata__') {
      if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) if (typeof v === 'string') metadata[k] = v;
      continue;
    }
    const entry = entrySchema.safeParse(value);
    if (!entry.success) throw bad(`tensor "${key}" has a malformed header entry`);
    const {
      dtype,
      shape,
      data_offsets: [begin, end],
    } = entry.data;
    if (!(dtype in BYTES)) throw bad(`tensor "${key}" has dtype ${dtype}; only F32, F16, BF16 and F64 are supported`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLen || end - begin !== count * BYTES[dtype as SafetensorsDtype])
      throw bad(`tensor "${key}" has data offsets that do not match its shape`);
    tensors.set(key, { dtype: dtype as SafetensorsDtype, shape, bytes: bytes.subarray(dataOffset + begin, dataOffset + end) });
  }
  return { metadata, tensors, dataOffset };
}

export async function readSafetensors(path: string): Promise<{ file: SafetensorsFile; bytes: Buffer }> {
  const name = basename(path);
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(err.code === 'ENOENT' ? `${path} does not exist.` : `${path} cannot be read: ${err.message}`);
  });
  return { file: parseSafetensors(bytes, name), bytes };
}

/** A tensor's values as float32, whatever its stored dtype. */
export function tensorToFloat32(t: SafetensorsTensor): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = fromFloat16Bits(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const u32 = new Uint32Array(1);
      const f32 = new Float32Array(u32.buffer);
      for (let i = 0; i < n; i++) {
        u32[0] = view.getUint16(i * 2, true) << 16;
        out[i] = f32[0];
      }
      break;
    }
  }
  return out;
}

/**
 * A1111's short hash of a safetensors LoRA (`addnet_hash_safetensors`, from kohya's sd-scripts):
 * sha256 of everything after the header, so editing the metadata keeps the hash. The first
 * 12 hex digits are what "Lora hashes" records.
 */
export function addnetHash(bytes: Uint8Array): string {
  if (looksPickled(bytes) || bytes.length < 8) throw new InputError('Only .safetensors files have an A1111 LoRA hash.');
  const headerLen = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  return createHash('sha256')
    .update(bytes.subarray(Math.min(bytes.length, 8 + headerLen)))
    .digest('hex');
}

/** Writes a safetensors file (tiny LoRAs and embeddings, tests). Tensors are stored as given. */
export function encodeSafetensors(
  tensors: Record<string, { dtype: 'F32' | 'F16'; shape: number[]; data: Float32Array | Uint16Array }>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const raw = Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + raw.length] };
    chunks.push(raw);
    offset += raw.length;
  }
  let json = JSON.stringify(header);
  // The data is 8-byte aligned in files safetensors writes; pad the header with spaces likewise.
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json, 'utf8'), ...chunks]);
}

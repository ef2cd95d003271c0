// PNG output with the generation parameters embedded, in the "parameters" text chunk that
// AUTOMATIC1111 and other Stable Diffusion tools read. sharp cannot write arbitrary text
// chunks, so the chunk is spliced in after IHDR (a PNG chunk is length, type, data, CRC-32).
import sharp from 'sharp';
import { crc32 } from 'node:zlib';

export interface PngParameters {
  prompt: string;
  negativePrompt?: string;
  seed: number;
  steps: number;
  scheduler: string;
  guidanceScale: number;
  width: number;
  height: number;
  model: string;
  strength?: number;
  /** Only-masked inpainting's padding: A1111's "Inpaint area: Only masked, Masked area padding: N". */
  inpaintPadding?: number;
  /** A1111's sd-webui-controlnet infotext unit. */
  controlnet?: { module: string; model: string; weight: number; guidanceStart: number; guidanceEnd: number; thresholds?: [number, number] };
}

/** `ControlNet 0: "Module: canny, Model: name, Weight: 1, …"` as sd-webui-controlnet writes it. */
function controlNetField(c: NonNullable<PngParameters['controlnet']>): string {
  const parts = [`Module: ${c.module}`, `Model: ${c.model}`, `Weight: ${c.weight}`, 'Resize Mode: Crop and Resize'];
  if (c.thresholds) parts.push(`Threshold A: ${c.thresholds[0]}`, `Threshold B: ${c.thresholds[1]}`);
  parts.push(`Guidance Start: ${c.guidanceStart}`, `Guidance End: ${c.guidanceEnd}`);
  return `ControlNet 0: "${parts.join(', ').replace(/"/g, "'")}"`;
}

/** A1111's layout: prompt, then "Negative prompt: …", then "Key: value, …". */
export function formatParameters(p: PngParameters): string {
  const lines = [p.prompt];
  if (p.negativePrompt) lines.push(`Negative prompt: ${p.negativePrompt}`);
  const fields = [
    `Steps: ${p.steps}`,
    `Sampler: ${p.scheduler}`,
    `CFG scale: ${p.guidanceScale}`,
    `Seed: ${p.seed}`,
    `Size: ${p.width}x${p.height}`,
    `Model: ${p.model}`,
  ];
  if (p.strength !== undefined) fields.push(`Denoising strength: ${p.strength}`);
  if (p.inpaintPadding !== undefined) fields.push('Inpaint area: Only masked', `Masked area padding: ${p.inpaintPadding}`);
  if (p.controlnet) fields.push(controlNetField(p.controlnet));
  lines.push(fields.join(', '));
  return lines.join('\n');
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(Buffer.from(type, 'latin1'))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** tEXt is Latin-1 only; like PIL, switch to uncompressed iTXt (UTF-8) when the text needs it. */
function textChunk(keyword: string, text: string): Buffer {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: PNG tEXt takes any Latin-1 character, controls included
  const latin1 = /^[\x00-\xff]*$/.test(text);
  if (latin1) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  // keyword \0 compression-flag compression-method language-tag \0 translated-keyword \0 text
  return chunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
}

export function withTextChunk(png: Buffer, keyword: string, text: string): Buffer {
  const ihdrEnd = 8 + 8 + 13 + 4; // signature + IHDR (length, type, 13 bytes, crc)
  if (png.subarray(12, 16).toString('latin1') !== 'IHDR') throw new Error('not a PNG');
  return Buffer.concat([png.subarray(0, ihdrEnd), textChunk(keyword, text), png.subarray(ihdrEnd)]);
}

/** Reads the text chunks back (tests and the bot's info button use it). */
/** The A1111 `parameters` text of a PNG, or undefined (another format, or no such chunk). */
export function pngParameters(bytes: Uint8Array): string | undefined {
  const png = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (png.length < 8 || png.readUInt32BE(0) !== 0x89504e47) return undefined;
  try {
    return readTextChunks(png).parameters;
  } catch {
    return undefined;
  }
}

export function readTextChunks(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 8;
  while (off + 8 <= png.length) {
    const len = png.readUInt32BE(off);
    const type = png.subarray(off + 4, off + 8).toString('latin1');
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'tEXt') {
      const z = data.indexOf(0);
      out[data.subarray(0, z).toString('latin1')] = data.subarray(z + 1).toString('latin1');
    } else if (type === 'iTXt') {
      const z = data.indexOf(0);
      const key = data.subarray(0, z).toString('latin1');
      let p = z + 3;
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      out[key] = data.subarray(p).toString('utf8');
    }
    if (type === 'IEND') break;
    off += 12 + len;
  }
  return out;
}

/** zlib level and filtering: the final files' (smaller) or an intermediate's (a few times faster). */
export interface PngEncoding {
  compressionLevel?: number;
  adaptiveFiltering?: boolean;
}

/** For files another step decodes again (tiles, inputs handed between passes): speed over size. */
export const INTERMEDIATE_PNG: Readonly<PngEncoding> = { compressionLevel: 1, adaptiveFiltering: false };

export async function encodePng(rgb: Uint8Array, width: number, height: number, parameters?: string, encoding: PngEncoding = {}): Promise<Buffer> {
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png({ compressionLevel: encoding.compressionLevel ?? 6, adaptiveFiltering: encoding.adaptiveFiltering ?? true })
    .toBuffer();
  return parameters ? withTextChunk(png, 'parameters', parameters) : png;
}

/** A generateRaw() image as the PNG generate() would have returned (libvips encodes off the JS thread). */
export function encodeRawImage(image: { rgb: Uint8Array; width: number; height: number; parameters: string }, encoding?: PngEncoding): Promise<Buffer> {
  return encodePng(image.rgb, image.width, image.height, image.parameters, encoding);
}

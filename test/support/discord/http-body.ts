import type { IncomingMessage } from 'node:http';
import { ApiErrors, DiscordApiFailure } from './errors.js';

/** Reading a request body the way Discord accepts it: JSON, or multipart with payload_json + files[n]. */

export interface UploadedFile {
  /** Form field name, e.g. "files[0]". */
  field: string;
  /** The n of files[n], when the field has that shape. */
  index: number | undefined;
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export interface ParsedBody {
  kind: 'none' | 'json' | 'multipart' | 'other';
  json: unknown;
  files: UploadedFile[];
  /** Non-file multipart fields other than payload_json. */
  fields: Record<string, string>;
}

// Larger than any upload limit Discord has, so oversize files get the 413 JSON error, not a reset.
const MAX_BODY_BYTES = 600 * 1024 * 1024;

export async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw ApiErrors.entityTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function parseBody(raw: Buffer, contentType: string | undefined): Promise<ParsedBody> {
  const type = (contentType ?? '').toLowerCase();
  if (raw.length === 0) return { kind: 'none', json: undefined, files: [], fields: {} };
  if (type.startsWith('application/json')) {
    return { kind: 'json', json: parseJson(raw.toString('utf8')), files: [], fields: {} };
  }
  if (type.startsWith('multipart/form-data')) {
    let form: FormData;
    try {
      form = await new Response(raw, { headers: { 'content-type': contentType ?? '' } }).formData();
    } catch (error) {
      throw new DiscordApiFailure(400, { message: `Malformed multipart body: ${String(error)}`, code: 0 });
    }
    const files: UploadedFile[] = [];
    const fields: Record<string, string> = {};
    let json: unknown;
    for (const [field, value] of form) {
      if (typeof value === 'string') {
        if (field === 'payload_json') json = parseJson(value);
        else fields[field] = value;
        continue;
      }
      const match = /^files\[(\d+)\]$/.exec(field);
      files.push({
        field,
        index: match ? Number(match[1]) : undefined,
        filename: value.name,
        contentType: value.type,
        bytes: Buffer.from(await value.arrayBuffer()),
      });
    }
    return { kind: 'multipart', json: json ?? (Object.keys(fields).length ? fields : undefined), files, fields };
  }
  return { kind: 'other', json: undefined, files: [], fields: {} };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw ApiErrors.invalidJson();
  }
}

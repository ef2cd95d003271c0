// Fetches a Discord attachment (an image-to-image input). The URL comes from the interaction, so
// it is treated as untrusted: https only, Discord's attachment hosts only (plus the origin of
// DISCORD_API_URL, where an operator points the bot at another Discord), redirects followed by
// hand and re-checked at every hop, the body streamed under a hard byte cap, and one time limit
// for the whole download. A slow or huge upload fails with a sentence instead of hanging the
// command or filling the bot's memory.
import { MAX_INPUT_IMAGE_BYTES } from './limits.js';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
}

/** Where Discord serves attachments from. */
export const DISCORD_ATTACHMENT_ORIGINS: readonly string[] = ['https://cdn.discordapp.com', 'https://media.discordapp.net'];

/**
 * The origins attachments may come from: Discord's, and the origin of DISCORD_API_URL when it is
 * set (a stand-in or proxy serves its attachments itself; it may be plain http only because the
 * operator named it explicitly).
 */
export function attachmentOrigins(apiUrl?: string): string[] {
  const origins = [...DISCORD_ATTACHMENT_ORIGINS];
  if (apiUrl) origins.push(new URL(apiUrl).origin);
  return origins;
}

export interface DownloadOptions {
  /** Allowed origins (`https://host[:port]`); Discord's attachment hosts by default. */
  allowedOrigins?: readonly string[];
  /** For the whole download, redirects and body included. */
  timeoutMs?: number;
  maxBytes?: number;
  maxRedirects?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}

/** The URL if it may be fetched, else a DownloadError that says why. */
function checked(raw: string, allowed: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DownloadError('The image link is not a valid URL; attach the image again.');
  }
  const isExplicitlyAllowed = allowed.includes(url.origin);
  if (url.protocol !== 'https:' && !isExplicitlyAllowed) throw new DownloadError('The image must come from a Discord attachment (https); attach it again.');
  if (!isExplicitlyAllowed) throw new DownloadError('The image must be a Discord attachment; attach the file itself rather than a link.');
  return url;
}

async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array> {
  const tooBig = new DownloadError(`The image is larger than ${mib(maxBytes)}.`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooBig;
  }
  if (!res.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    // Stop reading at the cap: a body without Content-Length never gets buffered whole.
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooBig;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

export async function downloadAttachment(url: string, opts: DownloadOptions = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? MAX_INPUT_IMAGE_BYTES;
  const allowed = opts.allowedOrigins ?? DISCORD_ATTACHMENT_ORIGINS;
  const maxRedirects = opts.maxRedirects ?? 3;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const signal = AbortSignal.timeout(timeoutMs);
  let target = checked(url, allowed);
  try {
    for (let hop = 0; ; hop++) {
      const res = await fetch(target, { signal, redirect: 'manual' });
      if (REDIRECTS.has(res.status)) {
        await res.body?.cancel().catch(() => undefined);
        const location = res.headers.get('location');
        if (!location || hop >= maxRedirects) throw new DownloadError('The image could not be downloaded (too many redirects); try attaching it again.');
        target = checked(new URL(location, target).href, allowed);
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        throw new DownloadError(`The image could not be downloaded (HTTP ${res.status}); try attaching it again.`);
      }
      return await readCapped(res, maxBytes);
    }
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    if (signal.aborted) throw new DownloadError(`The image took longer than ${Math.round(timeoutMs / 1000)} s to download; try again.`);
    throw new DownloadError(`The image could not be downloaded (${(err as Error).message}); try attaching it again.`);
  }
}

/**
 * A cheap look at the first bytes: PNG, JPEG or WebP, else undefined. The full decode happens
 * in the worker that runs the job (src/diffusion/image-prep.ts), never in the bot process.
 */
export function imageTypeOf(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

// Fetches a Discord attachment (an image-to-image input) with a time and size cap, so a slow or
// huge upload fails with a sentence instead of hanging the command.
import { MAX_INPUT_IMAGE_BYTES } from './limits.js';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
}

export async function downloadAttachment(url: string, opts: { timeoutMs?: number; maxBytes?: number } = {}): Promise<Uint8Array> {
  const maxBytes = opts.maxBytes ?? MAX_INPUT_IMAGE_BYTES;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 20_000) });
  } catch (err) {
    throw new DownloadError(`The image could not be downloaded (${(err as Error).message}); try attaching it again.`);
  }
  if (!res.ok) throw new DownloadError(`The image could not be downloaded (HTTP ${res.status}); try attaching it again.`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw new DownloadError(`The image is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB.`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > maxBytes) throw new DownloadError(`The image is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB.`);
  return bytes;
}

// One way in for every image a job starts from (/imagine's image and mask, Edit image…, Vary
// this image, a modal's uploaded mask): Discord's attachment hosts only, streamed under the cap,
// then only the magic bytes are looked at (the worker decodes it, never the bot process).
import type { BotContext } from './context.js';
import { attachmentOrigins, downloadAttachment, DownloadError, imageTypeOf } from './download.js';

/** The image's bytes, or the sentence to tell the requester why there are none. */
export async function fetchInputImage(ctx: Pick<BotContext, 'config'>, url: string, what = 'image'): Promise<Uint8Array | string> {
  let bytes: Uint8Array;
  try {
    bytes = await downloadAttachment(url, { allowedOrigins: attachmentOrigins(ctx.config.apiUrl) });
  } catch (err) {
    const why = err instanceof DownloadError ? err.message : 'The image could not be downloaded.';
    return `⚠️ ${what === 'image' ? why : `${why.replace(/^The image/, `The ${what}`)}`}`;
  }
  if (!imageTypeOf(bytes)) return `⚠️ The ${what === 'image' ? 'attached file' : what} is not a PNG, JPEG or WebP image.`;
  return bytes;
}

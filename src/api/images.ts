// Input images from API clients, checked as Discord attachments are (src/bot/download.ts and
// limits.ts): at most 20 MiB and PNG, JPEG or WebP by their magic bytes. They are not decoded
// here: the worker process that runs the job decodes untrusted images (an OpenAI edit's mask is
// the one exception, see masks.ts).
import { imageTypeOf } from '../bot/download.js';
import { MAX_INPUT_IMAGE_BYTES } from '../bot/limits.js';
import { ApiError } from './errors.js';

export { MAX_INPUT_IMAGE_BYTES };

/** Bytes of a base64 image (plain, or a `data:image/…;base64,` URL as A1111 accepts). */
export function decodeBase64Image(value: string, param: string): Uint8Array {
  const body = value.replace(/^data:[\w/+.-]*;base64,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(body) || body.length === 0) {
    throw new ApiError(400, `${param} is not base64 (a PNG, JPEG or WebP image encoded as base64 is expected).`, { param, code: 'invalid_image' });
  }
  if ((body.length * 3) / 4 > MAX_INPUT_IMAGE_BYTES + 3) {
    throw new ApiError(413, `${param} is larger than ${MAX_INPUT_IMAGE_BYTES / 1024 / 1024} MiB.`, { param, code: 'image_too_large' });
  }
  return checkImage(Buffer.from(body, 'base64'), param);
}

export function checkImage(bytes: Uint8Array, param: string): Uint8Array {
  if (bytes.length > MAX_INPUT_IMAGE_BYTES) {
    throw new ApiError(413, `${param} is larger than ${MAX_INPUT_IMAGE_BYTES / 1024 / 1024} MiB.`, { param, code: 'image_too_large' });
  }
  if (!imageTypeOf(bytes)) throw new ApiError(400, `${param} is not a PNG, JPEG or WebP image.`, { param, code: 'invalid_image' });
  return bytes;
}

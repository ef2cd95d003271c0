// The step preview: the engine's cheap latent→RGB projection is 1/8 of the image's size, so it
// is enlarged (smoothly: it is a blur of the final layout anyway) and sent as a small WebP.
import sharp from 'sharp';
import type { PreviewImage } from '../diffusion/types.js';
import type { OutgoingFile } from './attachments.js';

const MAX_PREVIEW_SIDE = 384;

export async function previewFile(p: PreviewImage, target: { width: number; height: number }): Promise<OutgoingFile> {
  const scale = Math.min(1, MAX_PREVIEW_SIDE / Math.max(target.width, target.height));
  const width = Math.max(p.width, Math.round(target.width * scale));
  const height = Math.max(p.height, Math.round(target.height * scale));
  const data = await sharp(Buffer.from(p.rgb), {
    raw: { width: p.width, height: p.height, channels: 3 },
  })
    .resize(width, height, { kernel: 'cubic' })
    .webp({ quality: 70 })
    .toBuffer();
  return { name: 'preview.webp', data, contentType: 'image/webp' };
}

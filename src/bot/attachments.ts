// Files that fit Discord's upload limit (interaction.attachmentSizeLimit: 10 MiB unboosted).
// PNG when it fits, since it is lossless; otherwise high-quality WebP, then JPEG, and only as a
// last resort smaller pixels.
import sharp from 'sharp';

export interface OutgoingFile {
  name: string;
  data: Buffer;
  contentType: string;
}

/** Discord's default per-file limit, for jobs whose interaction did not say. */
export const DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024;

const LOSSY: { format: 'webp' | 'jpeg'; quality: number }[] = [
  { format: 'webp', quality: 92 },
  { format: 'jpeg', quality: 92 },
  { format: 'webp', quality: 85 },
  { format: 'jpeg', quality: 85 },
  { format: 'webp', quality: 75 },
  { format: 'jpeg', quality: 75 },
];

async function encode(png: Buffer, format: 'webp' | 'jpeg', quality: number, width?: number): Promise<Buffer> {
  const img = width ? sharp(png).resize({ width, kernel: 'lanczos3' }) : sharp(png);
  return format === 'webp' ? img.webp({ quality, effort: 4 }).toBuffer() : img.jpeg({ quality, mozjpeg: true }).toBuffer();
}

/** `stem` is the file name without extension; the extension follows the format chosen. */
export async function fitImage(png: Buffer, stem: string, limit: number): Promise<OutgoingFile> {
  if (png.length <= limit) return { name: `${stem}.png`, data: png, contentType: 'image/png' };
  for (const { format, quality } of LOSSY) {
    const data = await encode(png, format, quality);
    if (data.length <= limit) return { name: `${stem}.${format === 'jpeg' ? 'jpg' : 'webp'}`, data, contentType: `image/${format}` };
  }
  let width = (await sharp(png).metadata()).width ?? 64;
  while (width > 16) {
    width = Math.floor(width * 0.75);
    const data = await encode(png, 'jpeg', 80, width);
    if (data.length <= limit) return { name: `${stem}.jpg`, data, contentType: 'image/jpeg' };
  }
  throw new Error(`An image cannot be made smaller than the upload limit of ${limit} bytes.`);
}

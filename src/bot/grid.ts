// Midjourney's 2×2 contact sheet: several images side by side in one picture, so a four-image
// job reads at a glance. The full-size files travel next to it.
import sharp from 'sharp';

const BACKGROUND = { r: 32, g: 34, b: 37, alpha: 1 };

/** Columns for n images: one for a single image, otherwise two (2×1, 2×2). */
export function gridColumns(n: number): number {
  return n <= 1 ? 1 : 2;
}

/** One PNG with the images in reading order; cells take the largest image's size. */
export async function makeGrid(images: Buffer[]): Promise<Buffer> {
  if (images.length === 0) throw new Error('makeGrid needs at least one image');
  const metas = await Promise.all(images.map((b) => sharp(b).metadata()));
  const cellW = Math.max(...metas.map((m) => m.width ?? 0));
  const cellH = Math.max(...metas.map((m) => m.height ?? 0));
  const cols = gridColumns(images.length);
  const rows = Math.ceil(images.length / cols);
  return sharp({ create: { width: cellW * cols, height: cellH * rows, channels: 4, background: BACKGROUND } })
    .composite(images.map((input, i) => ({ input, left: (i % cols) * cellW, top: Math.floor(i / cols) * cellH })))
    .png({ compressionLevel: 6 })
    .toBuffer();
}

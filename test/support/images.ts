// Test pictures shared by the inpainting tests.
import sharp from 'sharp';

/** A size × size PNG whose pixels all differ (a smooth two-way gradient), so "kept" means something. */
export function gradientPng(size: number): Promise<Buffer> {
  const raw = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) raw.set([40 + 2 * x, 60 + 2 * y, 150], (y * size + x) * 3);
  return sharp(raw, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

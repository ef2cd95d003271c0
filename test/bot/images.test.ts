import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { fitImage } from '../../src/bot/attachments.js';
import { gridColumns, makeGrid } from '../../src/bot/grid.js';
import { previewFile } from '../../src/bot/preview-image.js';

const solid = (r: number, g: number, b: number, size = 32) =>
  sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

/** Noise compresses badly, like a real photo: PNG is large, lossy formats much smaller. */
async function noisy(side: number): Promise<Buffer> {
  const rgb = Buffer.alloc(side * side * 3);
  let x = 12345;
  for (let i = 0; i < rgb.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    rgb[i] = (i % 3 === 0 ? (i / 3) % side : 0) + ((x >> 16) & 0x3f);
  }
  return sharp(rgb, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
}

async function pixel(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const o = (y * info.width + x) * info.channels;
  return [...data.subarray(o, o + 3)];
}

test('four images make a 2×2 grid in reading order', async () => {
  const images = await Promise.all([solid(255, 0, 0), solid(0, 255, 0), solid(0, 0, 255), solid(255, 255, 0)]);
  const grid = await makeGrid(images);
  const meta = await sharp(grid).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 64]);
  assert.deepEqual(await pixel(grid, 5, 5), [255, 0, 0]);
  assert.deepEqual(await pixel(grid, 40, 5), [0, 255, 0]);
  assert.deepEqual(await pixel(grid, 5, 40), [0, 0, 255]);
  assert.deepEqual(await pixel(grid, 40, 40), [255, 255, 0]);
  assert.deepEqual([gridColumns(1), gridColumns(2), gridColumns(3), gridColumns(4)], [1, 2, 2, 2]);
  const two = await sharp(await makeGrid(images.slice(0, 2))).metadata();
  assert.deepEqual([two.width, two.height], [64, 32]);
});

test('a PNG that fits is sent as is', async () => {
  const png = await solid(1, 2, 3);
  const f = await fitImage(png, 'seed-1', 10_000);
  assert.deepEqual([f.name, f.contentType], ['seed-1.png', 'image/png']);
  assert.equal(f.data, png);
});

test('a PNG over the limit becomes high-quality WebP or JPEG at full size', async () => {
  const png = await noisy(256);
  const limit = Math.floor(png.length / 2);
  const f = await fitImage(png, 'seed-1', limit);
  assert.ok(f.data.length <= limit);
  assert.match(f.name, /^seed-1\.(webp|jpg)$/);
  const meta = await sharp(f.data).metadata();
  assert.equal(meta.format, f.contentType === 'image/webp' ? 'webp' : 'jpeg');
  assert.deepEqual([meta.width, meta.height], [256, 256]);
});

test('as a last resort the image gets smaller; below that it is an error', async () => {
  const png = await noisy(256);
  const f = await fitImage(png, 'x', 3000);
  assert.ok(f.data.length <= 3000);
  assert.ok((await sharp(f.data).metadata()).width! < 256);
  await assert.rejects(fitImage(png, 'x', 50), /cannot be made smaller than the upload limit of 50 bytes/);
});

test('the step preview is enlarged from latent size', async () => {
  const rgb = new Uint8Array(8 * 8 * 3).fill(128);
  const f = await previewFile({ width: 8, height: 8, rgb }, { width: 64, height: 64 });
  const meta = await sharp(f.data).metadata();
  assert.deepEqual([f.name, meta.format, meta.width, meta.height], ['preview.webp', 'webp', 64, 64]);
  const big = await sharp((await previewFile({ width: 96, height: 64, rgb: new Uint8Array(96 * 64 * 3) }, { width: 768, height: 512 })).data).metadata();
  assert.deepEqual([big.width, big.height], [384, 256]);
});

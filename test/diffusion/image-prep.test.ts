import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { gridSizeForImage, imageSize, prepareImage, prepareMaskPlane } from '../../src/diffusion/image-prep.js';
import { InputError } from '../../src/diffusion/errors.js';

type Rgb = [number, number, number];

/** width × height of one colour, as packed raw bytes for sharp. */
function solid(width: number, height: number, channels: 1 | 3 | 4, value: number[]): Buffer {
  const out = Buffer.alloc(width * height * channels);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = value[c];
  return out;
}

/** Left part one colour, right part another, at column `split`. */
function split(width: number, height: number, at: number, left: Rgb, right: Rgb): Buffer {
  const out = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.set(x < at ? left : right, (y * width + x) * 3);
  return out;
}

function pixel(rgb: Uint8Array, width: number, x: number, y: number): Rgb {
  const i = (y * width + x) * 3;
  return [rgb[i], rgb[i + 1], rgb[i + 2]];
}

function near(actual: Rgb, expected: Rgb, tolerance: number, what: string): void {
  const off = Math.max(...actual.map((v, c) => Math.abs(v - expected[c])));
  assert.ok(off <= tolerance, `${what}: got ${actual}, expected about ${expected}`);
}

test('an input already at the grid size is used pixel for pixel', async () => {
  const raw = Buffer.alloc(64 * 48 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 256;
  const png = await sharp(raw, { raw: { width: 64, height: 48, channels: 3 } })
    .png()
    .toBuffer();
  const rgb = await prepareImage(png, 64, 48);
  assert.deepEqual(Buffer.from(rgb), raw);
});

test('alpha is flattened onto white', async () => {
  const rgba = solid(16, 16, 4, [200, 0, 0, 255]);
  for (let i = 0; i < 16 * 8; i++) rgba[i * 4 + 3] = 0; // top half fully transparent
  const png = await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } })
    .png()
    .toBuffer();
  assert.equal((await sharp(png).metadata()).channels, 4);
  const rgb = await prepareImage(png, 16, 16);
  assert.equal(rgb.length, 16 * 16 * 3);
  assert.deepEqual(pixel(rgb, 16, 3, 1), [255, 255, 255]);
  assert.deepEqual(pixel(rgb, 16, 3, 14), [200, 0, 0]);
});

test('greyscale and 16-bit inputs become 8-bit RGB', async () => {
  const grey = await sharp(solid(16, 16, 1, [90]), { raw: { width: 16, height: 16, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  assert.deepEqual(pixel(await prepareImage(grey, 16, 16), 16, 5, 5), [90, 90, 90]);

  const deep = await sharp(solid(16, 16, 3, [10, 128, 250]), { raw: { width: 16, height: 16, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  assert.equal((await sharp(deep).metadata()).depth, 'ushort');
  const rgb = await prepareImage(deep, 16, 16);
  assert.equal(rgb.length, 16 * 16 * 3);
  near(pixel(rgb, 16, 8, 8), [10, 128, 250], 1, '16-bit pixel');
});

test('a JPEG with EXIF orientation 6 is turned upright before cropping', async () => {
  // Stored 48 wide × 32 high, red left, blue right; orientation 6 = shown rotated 90° clockwise,
  // so the viewer sees 32 × 48 with red on top.
  const stored = split(48, 32, 24, [220, 20, 20], [20, 20, 220]);
  const jpeg = await sharp(stored, { raw: { width: 48, height: 32, channels: 3 } })
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  assert.deepEqual(await imageSize(jpeg), { width: 32, height: 48 });
  const rgb = await prepareImage(jpeg, 32, 48);
  near(pixel(rgb, 32, 16, 6), [220, 20, 20], 30, 'top');
  near(pixel(rgb, 32, 16, 42), [20, 20, 220], 30, 'bottom');
});

test('odd sizes are scaled to cover the grid and centre-cropped, never stretched', async () => {
  // 100 × 50: red | green (50 px) | blue. Covering 48 × 48 scales by 0.96 and keeps the middle.
  const raw = Buffer.alloc(100 * 50 * 3);
  for (let y = 0; y < 50; y++) {
    for (let x = 0; x < 100; x++) raw.set(x < 25 ? [255, 0, 0] : x < 75 ? [0, 255, 0] : [0, 0, 255], (y * 100 + x) * 3);
  }
  const webp = await sharp(raw, { raw: { width: 100, height: 50, channels: 3 } })
    .webp({ lossless: true })
    .toBuffer();
  const rgb = await prepareImage(webp, 48, 48);
  for (const [x, y] of [
    [2, 2],
    [45, 2],
    [24, 24],
    [2, 45],
    [45, 45],
  ])
    near(pixel(rgb, 48, x, y), [0, 255, 0], 8, `pixel ${x},${y}`);

  const odd = await sharp(solid(67, 45, 3, [40, 80, 120]), { raw: { width: 67, height: 45, channels: 3 } })
    .png()
    .toBuffer();
  const out = await prepareImage(odd, 64, 48);
  assert.equal(out.length, 64 * 48 * 3);
  near(pixel(out, 64, 0, 0), [40, 80, 120], 1, 'corner');
  near(pixel(out, 64, 63, 47), [40, 80, 120], 1, 'corner');
});

test('the size rule keeps the aspect ratio at about the model area, in multiples of 64', () => {
  assert.deepEqual(gridSizeForImage({ width: 3000, height: 2000 }, 512 * 512), { width: 640, height: 448 });
  assert.deepEqual(gridSizeForImage({ width: 512, height: 512 }, 512 * 512), { width: 512, height: 512 });
  assert.deepEqual(gridSizeForImage({ width: 67, height: 45 }, 64 * 64), { width: 64, height: 64 });
  const pano = gridSizeForImage({ width: 20000, height: 500 }, 1024 * 1024);
  assert.equal(pano.width, 2048, 'no side over the engine maximum');
  for (const v of Object.values(pano)) assert.equal(v % 64, 0);
});

test('a mask of another size is stretched onto the input, then cropped like it; transparency keeps', async () => {
  // Input 100 × 50; mask 20 × 20 with its right half white: after stretching, the input's right half.
  const mask = await sharp(split(20, 20, 10, [0, 0, 0], [255, 255, 255]), { raw: { width: 20, height: 20, channels: 3 } })
    .png()
    .toBuffer();
  const plane = await prepareMaskPlane(mask, { width: 100, height: 50 }, 48, 48);
  assert.equal(plane.length, 48 * 48);
  assert.ok(plane[24 * 48 + 4] < 20 && plane[24 * 48 + 43] > 235, 'the split stays in the middle');

  const layer = solid(16, 16, 4, [255, 255, 255, 0]);
  for (let i = 0; i < 16 * 16; i++) if (i % 16 >= 8) layer[i * 4 + 3] = 255; // opaque white on the right
  const painted = await sharp(layer, { raw: { width: 16, height: 16, channels: 4 } })
    .png()
    .toBuffer();
  const p = await prepareMaskPlane(painted, { width: 16, height: 16 }, 16, 16);
  assert.equal(p[8 * 16 + 2], 0, 'transparent = keep');
  assert.equal(p[8 * 16 + 13], 255);
});

test('unreadable bytes are an InputError naming the formats', async () => {
  const junk = new Uint8Array([1, 2, 3, 4, 5]);
  await assert.rejects(prepareImage(junk, 64, 64), (e: Error) => e instanceof InputError && /input image.*PNG, JPEG or WebP/.test(e.message));
  await assert.rejects(prepareMaskPlane(junk, { width: 64, height: 64 }, 64, 64), (e: Error) => e instanceof InputError && /mask image/.test(e.message));
});

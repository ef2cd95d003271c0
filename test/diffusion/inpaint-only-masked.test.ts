// "Only masked" inpainting (A1111's inpaint_full_res): the crop geometry (inpaint-crop.ts) and
// the engine on the tiny models: the crop around the mask is repainted at full size and pasted
// back, the rest of the picture comes back byte for byte.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { InputError } from '../../src/diffusion/errors.js';
import { expandToAspect, maskBoundingBox, onlyMaskedRegion, padRegion } from '../../src/diffusion/inpaint-crop.js';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { pngParameters } from '../../src/diffusion/png.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { tinyModel } from '../support/tiny-models.js';
import { gradientPng } from '../support/images.js';

test('bounding box: every non-zero pixel, x2/y2 exclusive; an empty plane has none', () => {
  const plane = new Float32Array(8 * 4);
  plane[1 * 8 + 2] = 0.01;
  plane[2 * 8 + 5] = 1;
  assert.deepEqual(maskBoundingBox(plane, 8, 4), { x1: 2, y1: 1, x2: 6, y2: 3 });
  assert.equal(maskBoundingBox(new Float32Array(8 * 4), 8, 4), undefined);
  assert.equal(onlyMaskedRegion(new Float32Array(8 * 4), 8, 4, 32), undefined);
});

test('padding grows the box on every side and stops at the picture', () => {
  assert.deepEqual(padRegion({ x1: 10, y1: 10, x2: 20, y2: 30 }, 4, 100, 100), { x1: 6, y1: 6, x2: 24, y2: 34 });
  assert.deepEqual(padRegion({ x1: 2, y1: 1, x2: 6, y2: 3 }, 2, 8, 4), { x1: 0, y1: 0, x2: 8, y2: 4 });
});

test('aspect expansion: the short side grows about the centre (odd extra below/right), shifted back inside at the edges', () => {
  // 10 × 2 in a square: 8 more rows, 4 each side.
  assert.deepEqual(expandToAspect({ x1: 40, y1: 50, x2: 50, y2: 52 }, 512, 512, 100, 100), { x1: 40, y1: 46, x2: 50, y2: 56 });
  // 10 × 3: 7 more rows, 3 above and 4 below.
  assert.deepEqual(expandToAspect({ x1: 40, y1: 50, x2: 50, y2: 53 }, 64, 64, 100, 100), { x1: 40, y1: 47, x2: 50, y2: 57 });
  // At the top and bottom edges the region slides inside.
  assert.deepEqual(expandToAspect({ x1: 0, y1: 0, x2: 10, y2: 2 }, 64, 64, 100, 100), { x1: 0, y1: 0, x2: 10, y2: 10 });
  assert.deepEqual(expandToAspect({ x1: 0, y1: 98, x2: 10, y2: 100 }, 64, 64, 100, 100), { x1: 0, y1: 90, x2: 10, y2: 100 });
  // A tall region at 2:1 widens: 10 × 20 → 40 × 20.
  assert.deepEqual(expandToAspect({ x1: 50, y1: 20, x2: 60, y2: 40 }, 128, 64, 128, 64), { x1: 35, y1: 20, x2: 75, y2: 40 });
  // Wider than the picture can give: cut at its edge, as A1111.
  assert.deepEqual(expandToAspect({ x1: 0, y1: 5, x2: 40, y2: 15 }, 64, 64, 40, 20), { x1: 0, y1: 0, x2: 40, y2: 20 });
  // Already at the ratio: unchanged.
  assert.deepEqual(expandToAspect({ x1: 8, y1: 8, x2: 24, y2: 16 }, 128, 64, 128, 64), { x1: 8, y1: 8, x2: 24, y2: 16 });
});

test('the only-masked region: box, padding, then the generation aspect', () => {
  const plane = new Uint8Array(64 * 32);
  for (let y = 10; y < 14; y++) for (let x = 30; x < 34; x++) plane[y * 64 + x] = 255;
  // Box 30..34 × 10..14, padded by 2: 28..36 × 8..16 (8 × 8), widened to 2:1: 24..40.
  assert.deepEqual(onlyMaskedRegion(plane, 64, 32, 2), { x1: 24, y1: 8, x2: 40, y2: 16 });
});

const SIZE = 64;
const pipes: StableDiffusionPipeline[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
});

async function load(inpainting: boolean): Promise<StableDiffusionPipeline> {
  const pipe = await StableDiffusionPipeline.load(await tinyModel({ inpainting }, 'inpaint'));
  pipes.push(pipe);
  return pipe;
}

const inputPng = () => gradientPng(SIZE);

/** White (repaint) inside [x1, x2) × [y1, y2), black elsewhere. */
async function boxMask(x1: number, y1: number, x2: number, y2: number): Promise<Buffer> {
  const raw = Buffer.alloc(SIZE * SIZE);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) raw[y * SIZE + x] = 255;
  return sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

async function rgbOf(png: Buffer): Promise<Buffer> {
  return (await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data;
}

const base: GenerationRequest = { prompt: 'a red balloon', seed: 11, steps: 5, guidanceScale: 7.5, width: SIZE, height: SIZE, count: 1, scheduler: 'ddim' };
const inside = (x: number, y: number) => x >= 40 && x < 56 && y >= 8 && y < 24;

for (const inpainting of [false, true]) {
  const kind = inpainting ? '9-channel inpainting UNet' : 'regular UNet';
  test(`${kind}, only masked: width×height out, kept pixels byte for byte, the box repainted unlike the whole-picture run`, async () => {
    const pipe = await load(inpainting);
    const input = await inputPng();
    const inputRgb = await rgbOf(input);
    const mask = await boxMask(40, 8, 56, 24);
    const masked = await pipe.generate({ ...base, initImage: input, mask, inpaintArea: 'masked', inpaintPadding: 4 });
    const whole = await pipe.generate({ ...base, initImage: input, mask });
    const img = masked.images[0];
    assert.equal(img.width, SIZE);
    assert.equal(img.height, SIZE);
    const meta = await sharp(img.png).metadata();
    assert.deepEqual([meta.width, meta.height], [SIZE, SIZE]);
    const out = await rgbOf(img.png);
    const wholeOut = await rgbOf(whole.images[0].png);
    let repainted = 0;
    let fromWhole = 0;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        for (let c = 0; c < 3; c++) {
          const i = (y * SIZE + x) * 3 + c;
          if (!inside(x, y)) assert.equal(out[i], inputRgb[i], `kept pixel ${x},${y}`);
          else {
            repainted += Math.abs(out[i] - inputRgb[i]);
            fromWhole += Math.abs(out[i] - wholeOut[i]);
          }
        }
      }
    }
    const n = 16 * 16 * 3;
    assert.ok(repainted / n > 5, `the masked box is repainted (mean difference ${repainted / n})`);
    assert.ok(fromWhole / n > 1, `the crop is not the whole-picture run (mean difference ${fromWhole / n})`);
    assert.match(pngParameters(img.png) ?? '', /, Inpaint area: Only masked, Masked area padding: 4(,|$)/m);
    assert.doesNotMatch(pngParameters(whole.images[0].png) ?? '', /Inpaint area/);
  });
}

test('only masked: a feathered mask blends at its edge, outside its blur the input stays; an all-black mask returns the input', async () => {
  const pipe = await load(true);
  const input = await inputPng();
  const inputRgb = await rgbOf(input);
  // Box at the picture's corner: the crop slides inside the picture; blur 2 feathers about ±5 px.
  const r = await pipe.generate({ ...base, initImage: input, mask: await boxMask(0, 0, 20, 12), maskBlur: 2, inpaintArea: 'masked' });
  const out = await rgbOf(r.images[0].png);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (x < 28 && y < 20) continue;
      for (let c = 0; c < 3; c++) assert.equal(out[(y * SIZE + x) * 3 + c], inputRgb[(y * SIZE + x) * 3 + c], `kept pixel ${x},${y}`);
    }
  }
  assert.ok(!out.subarray(0, 10 * 3).equals(inputRgb.subarray(0, 10 * 3)), 'the corner is repainted');
  const empty = await pipe.generate({ ...base, initImage: input, mask: await boxMask(0, 0, 0, 0), inpaintArea: 'masked' });
  assert.ok((await rgbOf(empty.images[0].png)).equals(inputRgb), 'nothing to repaint: the input');
  // No crop was inpainted, so the infotext does not say so (A1111 drops it for a blank mask too).
  assert.doesNotMatch(pngParameters(empty.images[0].png) ?? '', /Inpaint area|Masked area padding/);
});

test('only masked needs a mask; padding needs only masked and 0–256 whole pixels', async () => {
  const pipe = await load(true);
  const input = await inputPng();
  const mask = await boxMask(40, 8, 56, 24);
  const refused = async (req: Partial<GenerationRequest>, re: RegExp) =>
    assert.rejects(pipe.generate({ ...base, initImage: input, ...req }), (e: Error) => e instanceof InputError && re.test(e.message));
  await refused({ inpaintArea: 'masked' }, /inpaint area "masked" only applies to inpainting: give a mask too/);
  await refused({ mask, inpaintPadding: 8 }, /inpaint padding only applies to inpaint area "masked"/);
  await refused({ mask, inpaintArea: 'masked', inpaintPadding: 300 }, /inpaint padding must be at most 256 pixels/);
  await refused({ mask, inpaintArea: 'masked', inpaintPadding: 1.5 }, /inpaint padding must be a whole number of pixels/);
});

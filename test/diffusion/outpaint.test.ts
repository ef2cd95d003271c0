// Outpainting on the tiny model: the canvas's size, the kept region being the input's pixels
// byte for byte (scaled into place), a border that was really repainted, and the creative
// upscale's 2× through runImageEdit.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { runImageEdit } from '../../src/diffusion/image-edit.js';
import { keptRegion, outpaintCanvas, type OutpaintOp } from '../../src/diffusion/outpaint-geometry.js';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { pngParameters } from '../../src/diffusion/png.js';
import { tinyModel } from '../support/tiny-models.js';

const pipes: StableDiffusionPipeline[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
});

async function load(options: Parameters<typeof tinyModel>[0] = {}): Promise<StableDiffusionPipeline> {
  const pipe = await StableDiffusionPipeline.load(await tinyModel(options, 'outpaint'));
  pipes.push(pipe);
  return pipe;
}

/** A 128×128 picture with structure (a gradient and a bright square), as a U result might be. */
async function sourcePng(): Promise<Buffer> {
  const w = 128;
  const rgb = Buffer.alloc(w * w * 3);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 3;
      const inSquare = x > 40 && x < 80 && y > 30 && y < 90;
      rgb[o] = inSquare ? 250 : x * 2;
      rgb[o + 1] = inSquare ? 240 : y * 2;
      rgb[o + 2] = 90;
    }
  }
  return sharp(rgb, { raw: { width: w, height: w, channels: 3 } })
    .png()
    .toBuffer();
}

async function rawRegion(png: Uint8Array, r: { left: number; top: number; width: number; height: number }): Promise<Buffer> {
  return sharp(png).removeAlpha().extract(r).raw().toBuffer();
}

for (const unet of ['regular', 'inpainting'] as const) {
  test(`outpainting with a ${unet} UNet: canvas size, kept pixels exact, border repainted`, async () => {
    const pipe = await load(unet === 'inpainting' ? { inpainting: true } : {});
    const source = await sourcePng();
    const native = 128 * 128;
    for (const op of [
      { kind: 'zoom', factor: 2 },
      { kind: 'pan', direction: 'right' },
      { kind: 'pan', direction: 'up' },
    ] as OutpaintOp[]) {
      const canvas = outpaintCanvas({ width: 128, height: 128 }, op, native, 8);
      const result = await runImageEdit(pipe, {
        prompt: 'a wider view',
        seed: 7,
        steps: 3,
        guidanceScale: 1,
        count: 1,
        ...canvas,
        initImage: source,
        strength: 1,
        edit: op,
      });
      const png = result.images[0].png;
      const meta = await sharp(png).metadata();
      assert.deepEqual({ width: meta.width, height: meta.height }, canvas, JSON.stringify(op));
      // The kept region is the source scaled into place (Lanczos, as sharp does it), byte for byte.
      const kept = keptRegion({ width: 128, height: 128 }, op, canvas);
      const expected = await sharp(source).removeAlpha().resize(kept.width, kept.height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
      assert.ok((await rawRegion(png, kept)).equals(expected), `kept region of ${JSON.stringify(op)} is not the source's pixels`);
      // The border is the model's, not a mirrored copy of the picture.
      const border =
        op.kind === 'zoom'
          ? { left: 0, top: 0, width: canvas.width, height: kept.top }
          : op.direction === 'right'
            ? { left: kept.width, top: 0, width: canvas.width - kept.width, height: canvas.height }
            : { left: 0, top: 0, width: canvas.width, height: kept.top };
      const mirrored = await sharp(source)
        .removeAlpha()
        .resize(kept.width, kept.height, { fit: 'fill', kernel: 'lanczos3' })
        .extend({
          top: kept.top,
          bottom: canvas.height - kept.top - kept.height,
          left: kept.left,
          right: canvas.width - kept.left - kept.width,
          extendWith: 'mirror',
        })
        .png()
        .toBuffer();
      assert.ok(!(await rawRegion(png, border)).equals(await rawRegion(mirrored, border)), 'the border was not repainted');
      assert.match(pngParameters(png) ?? '', /Outpaint: /);
    }
  });
}

test('a creative upscale doubles the picture through hires fix', async () => {
  const pipe = await load();
  const source = await sourcePng();
  const result = await runImageEdit(pipe, {
    prompt: 'more detail',
    seed: 3,
    steps: 4,
    guidanceScale: 1,
    count: 1,
    width: 128,
    height: 128,
    initImage: source,
    strength: 0.3,
    edit: { kind: 'hires', scale: 2 },
  });
  const meta = await sharp(result.images[0].png).metadata();
  assert.deepEqual({ width: meta.width, height: meta.height }, { width: 256, height: 256 });
  assert.match(pngParameters(result.images[0].png) ?? '', /Hires upscale: 2/);
});

// ControlNet on the tiny models: a ControlNet-ready UNet (down_block_N + mid_block_additional_residual
// inputs) and tiny ControlNets in $MODELS_DIR/controlnets. Scale 0 must give the plain picture
// bit for bit, a scale above 0 must change it, the guidance window must pick the steps, and every
// way of asking wrongly must get a message that names the problem while the pipeline keeps working.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { InputError, ModelError } from '../../src/diffusion/errors.js';
import { pngParameters } from '../../src/diffusion/png.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { recordFeeds } from '../support/session-spy.js';
import { tinyControlNetModels, tinyModel } from '../support/tiny-models.js';

const SIZE = 64;
const pipes: StableDiffusionPipeline[] = [];
let cn: StableDiffusionPipeline;
let plain: StableDiffusionPipeline;
let modelsDir: string;
let control: Buffer;
const scratch = mkdtempSync(join(tmpdir(), 'controlnet-test-'));

async function load(dir: string): Promise<StableDiffusionPipeline> {
  const p = await StableDiffusionPipeline.load(dir);
  pipes.push(p);
  return p;
}

before(async () => {
  const set = await tinyControlNetModels();
  modelsDir = set.modelsDir;
  cn = await load(set.model);
  plain = await load(await tinyModel());
  // A white rectangle on black: canny finds its outline.
  const box = await sharp({ create: { width: 28, height: 36, channels: 3, background: '#ffffff' } })
    .png()
    .toBuffer();
  control = await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#000000' } })
    .composite([{ input: box, left: 14, top: 10 }])
    .png()
    .toBuffer();
});

after(async () => {
  for (const p of pipes) await p.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

const base: GenerationRequest = { prompt: 'a red fox', seed: 11, steps: 8, guidanceScale: 7.5, width: SIZE, height: SIZE, count: 1, scheduler: 'euler' };

async function pixels(png: Buffer): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

async function draw(pipe: StableDiffusionPipeline, req: Partial<GenerationRequest>): Promise<Buffer[]> {
  const result = await pipe.generate({ ...base, ...req });
  return Promise.all(result.images.map((i) => pixels(i.png)));
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / a.length;
}

async function gradientPng(): Promise<Buffer> {
  const raw = Buffer.alloc(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) raw.set([40 + 2 * x, 60 + 2 * y, 150], (y * SIZE + x) * 3);
  return sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 3 } })
    .png()
    .toBuffer();
}

async function maskPng(): Promise<Buffer> {
  const raw = Buffer.alloc(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = SIZE / 2; x < SIZE; x++) raw[y * SIZE + x] = 255;
  return sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

test('the ControlNet-ready UNet fed zeros draws exactly the plain tiny UNet picture (zeros add nothing)', async () => {
  const [withResiduals] = await draw(cn, {});
  const [ordinary] = await draw(plain, {});
  assert.ok(withResiduals.equals(ordinary), 'a residual UNet without a ControlNet must be the plain UNet');
});

for (const mode of ['txt2img', 'img2img', 'inpaint'] as const) {
  test(`${mode}: conditioning scale 0 gives the plain picture bit for bit; a scale above 0 changes it`, async () => {
    const start = mode === 'txt2img' ? {} : { initImage: await gradientPng(), strength: 0.7, ...(mode === 'inpaint' ? { mask: await maskPng() } : {}) };
    const [alone] = await draw(cn, start);
    const [zero] = await draw(cn, { ...start, controlnet: { model: 'canny', scale: 0 }, controlImage: control });
    const [full] = await draw(cn, { ...start, controlnet: { model: 'canny', scale: 1 }, controlImage: control });
    const [half] = await draw(cn, { ...start, controlnet: { model: 'canny', scale: 0.5 }, controlImage: control });
    assert.ok(zero.equals(alone), 'scale 0 must be the picture without ControlNet');
    assert.ok(meanAbsDiff(full, alone) > 2, `scale 1 must change the picture (mean diff ${meanAbsDiff(full, alone)})`);
    assert.ok(!half.equals(full) && !half.equals(alone), 'scale 0.5 lies between');
  });
}

test('the ControlNet runs on the whole guidance batch, each half with its own text, and its residuals reach the UNet scaled', async () => {
  const feeds = recordFeeds(cn);
  await cn.generate({ ...base, steps: 2, count: 2, controlnet: { model: 'canny', scale: 1 }, controlImage: control });
  const one = feeds[0].down_block_0;
  assert.deepEqual(one.dims.slice(0, 2), [4, 32], 'batch 2 images × (unconditional, conditional)');
  const rows = (t: typeof one) => {
    const size = t.dims.slice(1).reduce((a, b) => a * b, 1);
    return [0, 1, 2, 3].map((i) => (t.data as Float32Array).subarray(i * size, (i + 1) * size));
  };
  const [u0, , c0, c1] = rows(one);
  assert.notDeepEqual(u0, c0, 'the conditional half has its own text');
  assert.ok(
    c1.some((v) => v !== 0),
    'c1.some((v) => v !== 0)',
  );
  // The mid residual sits at half the latent size (the UNet config's layout).
  assert.deepEqual(feeds[0].mid_block_additional_residual.dims, [4, 32, 4, 4]);
  feeds.length = 0;
  await cn.generate({ ...base, steps: 2, count: 2, controlnet: { model: 'canny', scale: 0.5 }, controlImage: control });
  const halfRows = rows(feeds[0].down_block_0);
  for (let k = 0; k < c0.length; k += 97) assert.equal(halfRows[2][k], Math.fround(c0[k] * 0.5));
});

test('guidance start/end pick the steps as diffusers controlnet_keep does, and outside them the UNet gets zeros', async () => {
  cn.resetStats();
  const feeds = recordFeeds(cn);
  const [windowed] = await draw(cn, { controlnet: { model: 'canny', guidanceStart: 0.25, guidanceEnd: 0.75 }, controlImage: control });
  // 8 Euler steps: step i runs unless i/8 < 0.25 or (i+1)/8 > 0.75.
  assert.deepEqual(cn.runStats.controlnetSteps, [2, 3, 4, 5]);
  const active = feeds.map((f) => (f.down_block_0.data as Float32Array).some((v) => v !== 0));
  assert.deepEqual(active, [false, false, true, true, true, true, false, false]);
  const [full] = await draw(cn, { controlnet: { model: 'canny' }, controlImage: control });
  const [alone] = await draw(cn, {});
  assert.ok(!windowed.equals(full) && !windowed.equals(alone), 'a partial window differs from both the full one and none');
});

test('a ControlNet that scales in-graph (conditioning_scale input) gives the same pixels as scaling its outputs', async () => {
  const [outside] = await draw(cn, { controlnet: { model: 'canny', scale: 0.5 }, controlImage: control });
  const [inside] = await draw(cn, { controlnet: { model: 'canny-scaled', scale: 0.5 }, controlImage: control });
  assert.ok(inside.equals(outside), 'inside.equals(outside)');
});

test('preprocessor none reads the image as the map itself; canny thresholds change the map', async () => {
  // A grey box (contrast 100: Sobel L1 gradient 400 across its edges) on black.
  const box = await sharp({ create: { width: 28, height: 36, channels: 3, background: '#646464' } })
    .png()
    .toBuffer();
  const grey = await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#000000' } })
    .composite([{ input: box, left: 14, top: 10 }])
    .png()
    .toBuffer();
  const [canny] = await draw(cn, { controlnet: { model: 'canny' }, controlImage: grey });
  const [none] = await draw(cn, { controlnet: { model: 'canny', preprocessor: 'none' }, controlImage: grey });
  const [above] = await draw(cn, { controlnet: { model: 'canny', cannyLow: 900, cannyHigh: 1000 }, controlImage: grey });
  const [blank] = await draw(cn, {
    controlnet: { model: 'canny', preprocessor: 'none' },
    controlImage: await sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: '#000000' } })
      .png()
      .toBuffer(),
  });
  assert.ok(!none.equals(canny), 'none reads the grey box itself, canny its outline');
  // Thresholds above every gradient leave a black map: the same as a black map given with none.
  assert.ok(above.equals(blank), 'canny above every gradient gives the empty map');
  assert.ok(!above.equals(canny), 'and differs from the outline');
});

test('the PNG parameters carry the ControlNet as sd-webui-controlnet writes it', async () => {
  const result = await cn.generate({
    ...base,
    steps: 2,
    controlnet: { model: 'canny', scale: 0.8, guidanceStart: 0.1, guidanceEnd: 0.9 },
    controlImage: control,
  });
  const params = pngParameters(result.images[0].png) ?? '';
  assert.match(
    params,
    /ControlNet 0: "Module: canny, Model: canny, Weight: 0.8, Resize Mode: Crop and Resize, Threshold A: 100, Threshold B: 200, Guidance Start: 0.1, Guidance End: 0.9"/,
  );
});

test('bad requests get clear messages and the pipeline keeps working', async () => {
  await assert.rejects(cn.generate({ ...base, controlnet: { model: 'nope' }, controlImage: control }), (err: Error) => {
    assert.ok(err instanceof ModelError, 'err instanceof ModelError');
    assert.match(err.message, /ControlNet "nope" is not installed .*Installed: canny, canny-scaled/);
    return true;
  });
  await assert.rejects(cn.generate({ ...base, controlnet: { model: 'canny' }, controlImage: Buffer.from('not an image at all') }), (err: Error) => {
    assert.ok(err instanceof InputError, 'err instanceof InputError');
    assert.match(err.message, /The control image could not be read .*PNG, JPEG or WebP/);
    return true;
  });
  await assert.rejects(cn.generate({ ...base, controlnet: { model: 'canny' } }), /a ControlNet needs a control image/);
  await assert.rejects(cn.generate({ ...base, controlImage: control }), /a control image needs a ControlNet/);
  await assert.rejects(
    cn.generate({ ...base, controlnet: { model: 'canny', guidanceStart: 0.8, guidanceEnd: 0.2 }, controlImage: control }),
    /start must be below its end/,
  );
  await assert.rejects(cn.generate({ ...base, controlnet: { model: 'canny', scale: 5 }, controlImage: control }), /control scale must be at most 2/);
  // The plain tiny UNet takes no residuals: the message says which UNet is needed.
  const elsewhere = join(scratch, 'models');
  cpSync(join(modelsDir, 'controlnets'), join(elsewhere, 'controlnets'), { recursive: true });
  const plainCopy = join(elsewhere, 'plain');
  cpSync(await tinyModel(), plainCopy, { recursive: true });
  const plainHere = await load(plainCopy);
  await assert.rejects(plainHere.generate({ ...base, controlnet: { model: 'canny' }, controlImage: control }), (err: Error) => {
    assert.ok(err instanceof ModelError, 'err instanceof ModelError');
    assert.match(err.message, /unet takes no ControlNet residuals .*cannot use ControlNet canny.*ControlNet variant of its UNet/);
    return true;
  });
  // A ControlNet folder without its graph.
  const broken = join(elsewhere, 'controlnets', 'broken');
  cpSync(join(modelsDir, 'controlnets', 'canny'), broken, { recursive: true });
  rmSync(join(broken, 'model.onnx'));
  await assert.rejects(cn.generate({ ...base, controlnet: { model: broken }, controlImage: control }), /has no model\.onnx/);
  writeFileSync(join(broken, 'model.onnx'), 'garbage');
  await assert.rejects(cn.generate({ ...base, controlnet: { model: broken }, controlImage: control }), /Cannot load controlnet/);
  // Nothing lost: the same pipeline still draws, with and without the ControlNet.
  const [after1] = await draw(cn, { controlnet: { model: 'canny', scale: 0 }, controlImage: control });
  const [alone] = await draw(cn, {});
  assert.ok(after1.equals(alone), 'after1.equals(alone)');
});

test('a ControlNet made for another family (other text width) is refused by name', async () => {
  const other = await tinyControlNetModels({ hidden: 48 });
  const wrong = join(other.modelsDir, 'controlnets', 'canny');
  await assert.rejects(
    cn.generate({ ...base, controlnet: { model: wrong }, controlImage: control }),
    /reads text of width 48, but model tiny-cn has 32: it belongs to another model family/,
  );
});

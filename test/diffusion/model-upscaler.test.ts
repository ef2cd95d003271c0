import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ModelUpscaler } from '../../src/diffusion/model-upscaler.js';
import { resolveUpscalerDir, upscalePng, UpscaleService } from '../../src/diffusion/upscale.js';
import { upscaleImage } from '../../src/diffusion/pipeline.js';
import { readTextChunks, withTextChunk } from '../../src/diffusion/png.js';
import { ModelError } from '../../src/diffusion/errors.js';
import { tileGrid, tileStarts } from '../../src/diffusion/tiles.js';
import { createTinyUpscaler } from '../../src/models/tiny/upscaler.js';
import { DiffusionEngine } from '../../src/queue/engines.js';
import { tinyModel } from '../support/tiny-models.js';
import { isolated, entryArgs } from '../support/child-process.js';

const root = mkdtempSync(join(tmpdir(), 'upscaler-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const made = new Map<string, Promise<string>>();
function upscalerDir(scale: 2 | 4): Promise<string> {
  const key = `x${scale}`;
  if (!made.has(key)) {
    const dir = join(root, 'models', 'upscalers', key);
    made.set(
      key,
      createTinyUpscaler(dir, { scale }).then(() => dir),
    );
  }
  return made.get(key)!;
}

/** A smooth test picture with some detail: gradients plus a checker pattern. */
function picture(w: number, h: number): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      rgb[i] = Math.round((255 * x) / (w - 1));
      rgb[i + 1] = Math.round((255 * y) / (h - 1));
      rgb[i + 2] = ((x >> 3) + (y >> 3)) % 2 ? 200 : 40;
    }
  }
  return rgb;
}

async function png(rgb: Uint8Array, w: number, h: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}

function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / a.length, max };
}

test('tile layout: equal tiles cover the image, neighbours overlap by at least the overlap', () => {
  assert.deepEqual(tileStarts(100, 128, 8), [0]);
  assert.deepEqual(tileStarts(100, 32, 8), [0, 23, 45, 68]);
  for (const [len, tile, ov] of [
    [100, 32, 8],
    [513, 64, 16],
    [64, 64, 8],
    [1000, 256, 32],
  ]) {
    const s = tileStarts(len, tile, ov);
    assert.equal(s[0], 0);
    assert.equal(s[s.length - 1] + tile, len, 'last tile ends at the edge');
    for (let i = 1; i < s.length; i++) assert.ok(s[i - 1] + tile - s[i] >= ov, `overlap at ${i}`);
  }
  assert.equal(tileGrid(100, 72, 32, 8).length, 4 * 3);
});

test('the scale is detected by running the model; output is scale× the input', async () => {
  for (const scale of [2, 4] as const) {
    const up = await ModelUpscaler.load(await upscalerDir(scale));
    assert.equal(up.scale, scale);
    const out = await up.upscaleRgb(picture(40, 24), 40, 24);
    assert.deepEqual([out.width, out.height], [40 * scale, 24 * scale]);
    await up.dispose();
  }
});

test('tiled equals untiled within tolerance on an image bigger than one tile; blending hides the seams', async () => {
  const dir = await upscalerDir(4);
  const [w, h] = [100, 72];
  const rgb = picture(w, h);
  const whole = await ModelUpscaler.load(dir, { tileSize: 128 });
  const tiled = await ModelUpscaler.load(dir, { tileSize: 32, tileOverlap: 8 });
  const abutting = await ModelUpscaler.load(dir, { tileSize: 32, tileOverlap: 0 });
  const ref = await whole.upscaleRgb(rgb, w, h);
  const t = await tiled.upscaleRgb(rgb, w, h);
  const a = await abutting.upscaleRgb(rgb, w, h);
  assert.deepEqual([t.width, t.height], [400, 288]);
  const blended = diff(t.rgb, ref.rgb);
  const seams = diff(a.rgb, ref.rgb);
  assert.ok(blended.mean < 0.1 && blended.max <= 6, `tiled vs whole: mean ${blended.mean.toFixed(3)}, max ${blended.max}`);
  assert.ok(seams.max > blended.max, `unblended tiles show seams (max ${seams.max} vs ${blended.max})`);
  // It is an upscale of the picture: close to Lanczos.
  const lanczos = await sharp(await upscaleImage(await png(rgb, w, h), 4))
    .removeAlpha()
    .raw()
    .toBuffer();
  assert.ok(diff(t.rgb, lanczos).mean < 20);
  for (const u of [whole, tiled, abutting]) await u.dispose();
});

test('upscalePng: 2× model run twice for 4×, 4× model scaled down for 2×, parameters kept', async () => {
  const input = withTextChunk(await png(picture(48, 32), 48, 32), 'parameters', 'a cat\nSteps: 3, Seed: 1');
  const x2 = await ModelUpscaler.load(await upscalerDir(2), { tileSize: 32, tileOverlap: 8 });
  const x4 = await ModelUpscaler.load(await upscalerDir(4));
  for (const [up, factor] of [
    [x2, 4],
    [x4, 2],
    [x2, 2],
    [x4, 4],
  ] as const) {
    const out = await upscalePng(input, factor, up);
    const meta = await sharp(out).metadata();
    assert.deepEqual([meta.width, meta.height], [48 * factor, 32 * factor]);
    assert.equal(
      readTextChunks(out).parameters,
      `a cat\nSteps: 3, Seed: 1, Postprocess upscale by: ${factor}, Postprocess upscaler: ${up === x2 ? 'x2' : 'x4'}`,
    );
  }
  await x2.dispose();
  await x4.dispose();
});

test('without an upscaler model: Lanczos, the same pixels as upscaleImage', async () => {
  const input = await png(picture(40, 40), 40, 40);
  const out = await new UpscaleService({ modelsDir: join(root, 'empty') }).upscale(input, 2);
  const ref = await upscaleImage(input, 2);
  assert.ok((await sharp(out).raw().toBuffer()).equals(await sharp(ref).raw().toBuffer()));
  assert.equal((await sharp(out).metadata()).width, 80);
});

test('UPSCALER resolution: the only one installed by default, a name, lanczos, clear errors', async () => {
  const models = join(root, 'resolve');
  assert.equal(resolveUpscalerDir(models), undefined, 'no upscalers folder');
  const one = join(models, 'upscalers', 'real-esrgan-x4');
  mkdirSync(one, { recursive: true });
  writeFileSync(join(one, 'model.onnx'), readFileSync(join(await upscalerDir(4), 'model.onnx')));
  assert.equal(resolveUpscalerDir(models), one);
  assert.equal(resolveUpscalerDir(models, 'lanczos'), undefined);
  assert.equal(resolveUpscalerDir(models, 'real-esrgan-x4'), one);
  assert.throws(
    () => resolveUpscalerDir(models, 'missing'),
    (e: unknown) => e instanceof ModelError && /missing.*does not exist.*real-esrgan-x4.*UPSCALER=lanczos/s.test(e.message),
  );
  assert.throws(() => resolveUpscalerDir(models, '../x'), /not a path/);
  mkdirSync(join(models, 'upscalers', 'second'));
  writeFileSync(join(models, 'upscalers', 'second', 'model.onnx'), '');
  assert.equal(resolveUpscalerDir(models), undefined, 'two installed and none named: Lanczos');
});

test('a graph that is not an upscaler gets a clear error', async () => {
  const model = await tinyModel();
  await assert.rejects(ModelUpscaler.load(join(model, 'text_encoder')), (e: unknown) => e instanceof ModelError && /not an image upscaler/.test(e.message));
  await assert.rejects(ModelUpscaler.load(join(root, 'nowhere')), /no model.onnx.*create-tiny-upscaler/);
});

test("the queue's upscale job uses the installed upscaler", async () => {
  const modelsDir = join(root, 'models');
  await upscalerDir(4);
  const input = join(root, 'in.png');
  writeFileSync(input, withTextChunk(await png(picture(32, 32), 32, 32), 'parameters', 'p\nSeed: 1'));
  // Two upscalers are installed (x2, x4): name the one to use.
  const saved = process.env.UPSCALER;
  process.env.UPSCALER = 'x4';
  try {
    const engine = new DiffusionEngine({ device: 'cpu', modelsDir, noopStepMs: 0, maxLoadedModels: 1, memoryBudgetMb: 0 });
    const job = {
      id: 'u1',
      kind: 'upscale' as const,
      model: 'none',
      request: { prompt: 'p', seed: 1, steps: 1, guidanceScale: 0, width: 64, height: 64, count: 1 },
      initImagePath: input,
      upscaleFactor: 2 as const,
      outputDir: join(root, 'out'),
    };
    const result = await engine.run(job, { onProgress: () => undefined, signal: new AbortController().signal });
    assert.ok(existsSync(result.outputs[0]));
    const out = readFileSync(result.outputs[0]);
    assert.equal((await sharp(out).metadata()).width, 64);
    assert.match(readTextChunks(out).parameters, /Postprocess upscaler: x4$/);
  } finally {
    if (saved === undefined) delete process.env.UPSCALER;
    else process.env.UPSCALER = saved;
  }
});

test('npm run models -- create-tiny-upscaler writes a working 2× upscaler', async () => {
  const dir = join(root, 'cli-x2');
  const r = spawnSync(process.execPath, entryArgs('src/cli/models.ts', 'create-tiny-upscaler', dir, '--scale', '2'), {
    encoding: 'utf8',
    timeout: 60_000,
    ...isolated(),
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /2× upscaler/);
  assert.equal((await ModelUpscaler.load(dir)).scale, 2);
  const bad = spawnSync(process.execPath, entryArgs('src/cli/models.ts', 'create-tiny-upscaler', dir, '--scale', '3'), {
    encoding: 'utf8',
    timeout: 60_000,
    ...isolated(),
  });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--scale must be 2 or 4/);
});

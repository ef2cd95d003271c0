import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import { hiresFix } from '../../src/diffusion/hires-fix.js';
import { readTextChunks } from '../../src/diffusion/png.js';
import { GenerationAbortedError, InputError } from '../../src/diffusion/errors.js';
import { tinyModel, tinyModelWithSafetyChecker } from '../support/tiny-models.js';
import type { GenerationProgress } from '../../src/diffusion/types.js';

const request = { prompt: 'a castle on a hill', seed: 11, steps: 10, guidanceScale: 7.5, width: 64, height: 64, count: 1 };

async function raw(png: Uint8Array): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

async function lanczos2x(png: Buffer): Promise<Buffer> {
  return sharp(png).resize(128, 128, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
}

test('hires fix: 2× size, redrawn at low strength (close to the Lanczos upscale, not equal), deterministic', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const source = (await pipe.generate(request)).images[0].png;
  const progress: GenerationProgress[] = [];
  const a = await hiresFix(pipe, { image: source, prompt: request.prompt, seed: 11, steps: 10, scheduler: 'euler' }, { onProgress: (p) => progress.push(p) });
  assert.deepEqual([a.width, a.height, a.tiles], [128, 128, 1]);
  assert.deepEqual((await sharp(a.png).metadata()).width, 128);
  assert.deepEqual(
    progress.map((p) => p.step),
    [1, 2, 3],
    'strength 0.3 of 10 steps (euler)',
  );
  const params = readTextChunks(a.png).parameters;
  // A1111's record: the first pass's steps and size, then the hires pass.
  assert.match(
    params,
    new RegExp(`Steps: ${request.steps}, .*Size: 64x64, .*Denoising strength: 0\\.3, Hires upscale: 2, Hires steps: 10, Hires upscaler: Lanczos$`),
  );
  assert.equal((params.match(/Denoising strength/g) ?? []).length, 1);

  const upscaled = await lanczos2x(source);
  const out = await raw(a.png);
  const redrawn = meanAbsDiff(out, upscaled);
  assert.ok(redrawn > 0.05, `something is redrawn (${redrawn})`);
  // Strength decides how much: a light pass keeps the source (far closer than another seed's picture).
  const light = await raw((await hiresFix(pipe, { image: source, prompt: request.prompt, seed: 11, steps: 10, scheduler: 'euler', strength: 0.1 })).png);
  const strong = await raw((await hiresFix(pipe, { image: source, prompt: request.prompt, seed: 11, steps: 10, scheduler: 'euler', strength: 0.8 })).png);
  const otherSource = await lanczos2x((await pipe.generate({ ...request, seed: 99 })).images[0].png);
  assert.ok(meanAbsDiff(light, upscaled) < meanAbsDiff(otherSource, upscaled) / 4, 'strength 0.1 keeps the composition');
  assert.ok(meanAbsDiff(light, upscaled) < redrawn && redrawn < meanAbsDiff(strong, upscaled), 'more strength, more change');

  const again = await hiresFix(pipe, { image: source, prompt: request.prompt, seed: 11, steps: 10, scheduler: 'euler' });
  assert.ok(again.png.equals(a.png), 'same input and seed, same bytes');
});

test('tiled hires fix: overlapping tiles when larger than maxTileSize, close to the one-piece result', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const source = (await pipe.generate(request)).images[0].png;
  const light = { image: source, prompt: request.prompt, seed: 11, steps: 10, scheduler: 'euler' as const, strength: 0.1 };
  const whole = await hiresFix(pipe, light);
  const tiledLight = await hiresFix(pipe, { ...light, maxTileSize: 64, tileOverlap: 16 });
  const d = meanAbsDiff(await raw(tiledLight.png), await raw(whole.png));
  // Tiles are redrawn apart (the tiny UNet draws position-dependent waves), so only a light pass agrees closely.
  assert.ok(d < 4, `tiled vs one piece at strength 0.1: ${d}`);

  const progress: GenerationProgress[] = [];
  const tiled = await hiresFix(
    pipe,
    { image: source, prompt: request.prompt, seed: 11, steps: 10, scheduler: 'euler', maxTileSize: 64, tileOverlap: 16 },
    { onProgress: (p) => progress.push(p) },
  );
  assert.deepEqual([tiled.width, tiled.height, tiled.tiles], [128, 128, 9]);
  assert.deepEqual(
    progress.map((p) => p.step),
    Array.from({ length: 27 }, (_, i) => i + 1),
    '3 steps × 9 tiles',
  );
  assert.ok(progress.every((p) => p.totalSteps === 27));
  assert.match(readTextChunks(tiled.png).parameters, /Hires upscale: 2, Hires steps: 10, Hires upscaler: Lanczos, Hires tiles: 9$/);
});

test('hires fix: bad options are InputErrors, cancellation stops it, nsfw flags carry over', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const source = (await pipe.generate(request)).images[0].png;
  await assert.rejects(hiresFix(pipe, { image: source, prompt: 'x', seed: 1, strength: 0 }), InputError);
  await assert.rejects(hiresFix(pipe, { image: source, prompt: 'x', seed: 1, maxTileSize: 100 }), /multiple of 8/);
  await assert.rejects(hiresFix(pipe, { image: source, prompt: 'x', seed: 1, maxTileSize: 64, tileOverlap: 32 }), /less than half/);
  await assert.rejects(hiresFix(pipe, { image: Buffer.from('nope'), prompt: 'x', seed: 1 }), InputError);
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(hiresFix(pipe, { image: source, prompt: 'x', seed: 1 }, { signal: controller.signal }), GenerationAbortedError);

  const flagged = await loadPipeline(await tinyModelWithSafetyChecker('always'));
  assert.equal((await hiresFix(flagged, { image: source, prompt: 'x', seed: 1, maxTileSize: 64, tileOverlap: 16 })).nsfw, true);
  assert.equal((await hiresFix(pipe, { image: source, prompt: 'x', seed: 1 })).nsfw, undefined);
});

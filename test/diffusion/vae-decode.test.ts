import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import sharp from 'sharp';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import { resolveMemoryOptions } from '../../src/diffusion/memory-options.js';
import { engineSettingsFromEnv } from '../../src/diffusion/engine-settings.js';
import { sessionCounters } from '../../src/diffusion/sessions.js';
import { tinyModel } from '../support/tiny-models.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';

const base: GenerationRequest = { prompt: 'a red barn in snow', seed: 21, steps: 3, guidanceScale: 7.5, width: 64, height: 64, count: 1, scheduler: 'euler' };

async function raw(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

function diff(a: Buffer, b: Buffer): { mean: number; max: number } {
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

test('tiled VAE decode is close to the full decode, in one VAE call per tile', async () => {
  for (const float16 of [false, true]) {
    const dir = await tinyModel({ float16 });
    const full = await loadPipeline(dir);
    const tiled = await loadPipeline(dir, { vaeTiling: { tileSize: 128, overlap: 32 } });
    const req = { ...base, width: 256, height: 192 };
    const a = await full.generate(req);
    tiled.resetStats();
    const b = await tiled.generate(req);
    // 32×24 latents in 16-latent tiles overlapping by 4: 3 × 2 tiles.
    assert.equal(tiled.runStats.vaeCalls, 6);
    const d = diff(await raw(a.images[0].png), await raw(b.images[0].png));
    assert.ok(d.mean < 0.5 && d.max <= 24, `float16=${float16}: mean ${d.mean.toFixed(3)}, max ${d.max}`);
    // Images that fit in one tile are decoded whole, exactly as without tiling.
    const small = await tiled.generate(base);
    assert.ok((await raw(small.images[0].png)).equals(await raw((await full.generate(base)).images[0].png)));
  }
});

test('one image at a time (default) and one batched call decode the same pictures', async () => {
  const dir = await tinyModel();
  const sliced = await loadPipeline(dir);
  const batched = await loadPipeline(dir, { vaeSlicing: false });
  assert.notEqual(sliced, batched);
  const req = { ...base, count: 3 };
  sliced.resetStats();
  batched.resetStats();
  const a = await sliced.generate(req);
  const b = await batched.generate(req);
  assert.equal(sliced.runStats.vaeCalls, 3);
  assert.equal(batched.runStats.vaeCalls, 1);
  for (let i = 0; i < 3; i++) {
    const d = diff(await raw(a.images[i].png), await raw(b.images[i].png));
    assert.ok(d.max <= 1, `image ${i}: max ${d.max}`);
  }
});

test('release-sessions mode gives identical images, frees the text encoder and VAE between jobs, reloads them lazily', async () => {
  const dir = await tinyModel();
  const kept = await loadPipeline(dir);
  const before = { ...sessionCounters };
  const released = await loadPipeline(dir, { releaseSessions: true });
  await nextTurn();
  // Loaded for the signature checks, then released at once: only the UNet stays.
  assert.equal(sessionCounters.created - before.created, 3);
  assert.equal(sessionCounters.live - before.live, 1);

  const img2img = { ...base, initImage: (await kept.generate(base)).images[0].png, strength: 0.6 };
  for (const req of [base, { ...base, count: 2, seed: 3 }, img2img]) {
    const a = await kept.generate(req);
    const { created, live } = sessionCounters;
    const b = await released.generate(req);
    assert.deepEqual(
      b.images.map((i) => i.png.toString('base64')),
      a.images.map((i) => i.png.toString('base64')),
      'same bytes',
    );
    // Text encoder (once for both prompts) and VAE decoder (once for every image), + the VAE encoder for img2img.
    assert.equal(sessionCounters.created - created, req.initImage ? 3 : 2);
    await nextTurn();
    assert.equal(sessionCounters.live, live, 'only the UNet is left loaded');
  }
  const live = sessionCounters.live;
  await released.dispose();
  assert.equal(sessionCounters.live, live - 1);
});

test('memory options: LOW_MEMORY turns the savers on, explicit keys win, bad values are named', () => {
  assert.deepEqual(resolveMemoryOptions(), { releaseSessions: false, vaeSlicing: true, vaeTiling: undefined, safetyChecker: true, textEncoder3: true });
  assert.deepEqual(resolveMemoryOptions({ lowMemory: true }), {
    releaseSessions: true,
    vaeSlicing: true,
    vaeTiling: { tileSize: 64, overlap: 16 },
    safetyChecker: true,
    textEncoder3: true,
  });
  assert.throws(() => resolveMemoryOptions({ vaeTiling: { tileSize: 100 } }), /multiple of 8/);
  assert.throws(() => resolveMemoryOptions({ vaeTiling: { tileSize: 64, overlap: 32 } }), /less than half/);

  const low = engineSettingsFromEnv({ LOW_MEMORY: '1', VAE_TILE_SIZE: '256' });
  assert.deepEqual(resolveMemoryOptions(low.pipeline), {
    releaseSessions: true,
    vaeSlicing: true,
    vaeTiling: { tileSize: 32, overlap: 8 },
    safetyChecker: true,
    textEncoder3: true,
  });
  assert.equal(low.upscaler.releaseWhenIdle, true);
  const mixed = engineSettingsFromEnv({ LOW_MEMORY: 'true', VAE_TILING: '0', RELEASE_SESSIONS: 'no', VAE_SLICING: 'off' });
  assert.deepEqual(resolveMemoryOptions(mixed.pipeline), {
    releaseSessions: false,
    vaeSlicing: false,
    vaeTiling: undefined,
    safetyChecker: true,
    textEncoder3: true,
  });
  assert.equal(resolveMemoryOptions(engineSettingsFromEnv({ SD3_T5: '0' }).pipeline).textEncoder3, false, 'SD3_T5=0 leaves T5 unloaded');
  const defaults = engineSettingsFromEnv({ LOW_MEMORY: '', UPSCALER: 'real-esrgan-x4' });
  assert.deepEqual(resolveMemoryOptions(defaults.pipeline), resolveMemoryOptions());
  assert.deepEqual(defaults.upscaler, { name: 'real-esrgan-x4', tileSize: 256, tileOverlap: 16, releaseWhenIdle: false });
  assert.throws(
    () => engineSettingsFromEnv({ LOW_MEMORY: 'maybe', VAE_TILE_SIZE: '100' }),
    /LOW_MEMORY: must be 1 or 0[\s\S]*VAE_TILE_SIZE: must be a multiple of 8/,
  );
});

// LCM: the guidance scale goes into the UNet as timestep_cond (diffusers'
// get_guidance_scale_embedding of w = guidance − 1), and no unconditional batch half runs.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { addTimeIds, classifierFreeGuidance, guidanceScaleEmbedding } from '../../src/diffusion/unet-inputs.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { tinyModel } from '../support/tiny-models.js';
import { maxAbsDiff, recordFeeds, row } from '../support/session-spy.js';

const scratch = mkdtempSync(join(tmpdir(), 'lcm-test-'));
const pipes: StableDiffusionPipeline[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

async function load(dir: string): Promise<StableDiffusionPipeline> {
  const p = await StableDiffusionPipeline.load(dir);
  pipes.push(p);
  return p;
}

const base: GenerationRequest = { prompt: 'a photo of a cat', seed: 5, steps: 4, guidanceScale: 8, width: 64, height: 64, count: 2 };

test('guidance-scale embedding matches values computed by hand', () => {
  // dim 4: half 2, frequencies exp(-i·ln(10000)/(2−1)) = [1, 1e-4]; w = 1.5 − 1 = 0.5 → w·1000 = 500.
  const e = guidanceScaleEmbedding(0.5, 4);
  const want = [Math.sin(500), Math.sin(0.05), Math.cos(500), Math.cos(0.05)]; // -0.46777, 0.04998, -0.88385, 0.99875
  assert.ok(maxAbsDiff(e, want) < 1e-5, `${[...e]}`);
  assert.ok(maxAbsDiff(e, [-0.4677718, 0.0499792, -0.8838493, 0.9987503]) < 1e-5);
  // dim 6, guidance 8 (w = 7): frequencies [1, 0.01, 1e-4] → angles 7000, 70, 0.7.
  const g8 = guidanceScaleEmbedding(7, 6);
  assert.ok(maxAbsDiff(g8, [0.5068854, 0.7738907, 0.6442177, 0.8620134, 0.6333192, 0.7648422]) < 1e-6, `${[...g8]}`);
  // An odd width is zero-padded at the end; w = 0 gives sin 0 = 0 and cos 0 = 1.
  assert.deepEqual([...guidanceScaleEmbedding(0, 5)], [0, 0, 1, 1, 0]);
});

test('classifier-free guidance: above 1 only, never for a UNet with timestep_cond', () => {
  assert.equal(classifierFreeGuidance(7.5, {}), true);
  assert.equal(classifierFreeGuidance(1, {}), false);
  const lcm = { timestepCond: { meta: {} as never, dim: 16 } };
  assert.equal(classifierFreeGuidance(8, lcm), false);
  assert.deepEqual([...addTimeIds(1024, 768)], [768, 1024, 0, 0, 768, 1024]);
});

test('LCM: timestep_cond = embedding of guidance − 1 for every image, one batch, no negative encoding', async () => {
  const pipe = await load(await tinyModel('lcm'));
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate({ ...base, negativePrompt: 'blurry' });
  assert.equal(feeds.length, 4, 'one UNet call per step');
  const f = feeds[0];
  assert.deepEqual(f.sample.dims, [2, 4, 8, 8], 'count 2 → batch 2: no unconditional half');
  assert.deepEqual(f.encoder_hidden_states.dims, [2, 77, 32]);
  assert.deepEqual(f.timestep_cond.dims, [2, 16]);
  const want = guidanceScaleEmbedding(7, 16);
  for (const i of [0, 1]) assert.ok(maxAbsDiff(row(f.timestep_cond, i), want) === 0);
  assert.equal(f.text_embeds, undefined);
  assert.equal(pipe.runStats.unetBatch, 2);
  assert.equal(pipe.runStats.textEncoderCalls, 1, 'the negative prompt is not used without a guidance batch');
});

async function rgb(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}
function meanAbsDiff(a: Buffer, b: Buffer): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('LCM: the guidance scale changes the picture through timestep_cond', async () => {
  const pipe = await load(await tinyModel('lcm'));
  const req = { ...base, count: 1 };
  const a = await rgb((await pipe.generate(req)).images[0].png);
  const b = await rgb((await pipe.generate({ ...req, guidanceScale: 2 })).images[0].png);
  assert.ok(meanAbsDiff(a, b) > 0.3, `guidance matters: ${meanAbsDiff(a, b)}`);
  // The model's defaults (4 steps, guidance 8, LCM) run as they are.
  pipe.resetStats();
  // What the CLI and the bot send when the user gives only a prompt: the model's defaults.
  const d = pipe.defaults;
  const r = await pipe.generate({ prompt: 'a cat', seed: 0, count: 1, steps: d.steps, guidanceScale: d.guidanceScale, width: 64, height: 64 });
  assert.equal(r.scheduler, 'lcm');
  assert.deepEqual([pipe.runStats.unetCalls, pipe.runStats.unetBatch], [4, 1]);
});

test('SDXL-LCM: timestep_cond together with text_embeds and time_ids, single batch', async () => {
  const pipe = await load(await tinyModel('sdxl-lcm'));
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate(base);
  const f = feeds[0];
  assert.deepEqual(f.timestep_cond.dims, [2, 16]);
  assert.deepEqual(f.text_embeds.dims, [2, 64]);
  assert.deepEqual([...row(f.time_ids, 1)], [64, 64, 0, 0, 64, 64]);
  assert.equal(pipe.runStats.unetBatch, 2);
});

test('SD-Turbo: guidance 0 by default runs batch 1 with one step', async () => {
  const dir = join(scratch, 'sd-turbo');
  cpSync(await tinyModel(), dir, { recursive: true });
  const pipe = await load(dir);
  pipe.resetStats();
  // What the CLI and the bot send when the user gives only a prompt: the model's defaults.
  const d = pipe.defaults;
  const r = await pipe.generate({ prompt: 'a cat', seed: 0, count: 1, steps: d.steps, guidanceScale: d.guidanceScale, width: 64, height: 64 });
  assert.equal(r.scheduler, 'euler_a');
  assert.deepEqual([pipe.runStats.unetCalls, pipe.runStats.unetBatch, pipe.runStats.textEncoderCalls], [1, 1, 1]);
  const { data } = await sharp(r.images[0].png).raw().toBuffer({ resolveWithObject: true });
  assert.ok(
    data.some((v) => v > 0 && v < 255),
    'a real image from one step',
  );
});

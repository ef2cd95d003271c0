// SDXL on the tiny SDXL-layout model: prompt embeddings from both encoders' penultimate layers,
// the pooled embedding from text_encoder_2, zeros for a missing negative prompt, time_ids.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { ModelError } from '../../src/diffusion/errors.js';
import { ClipTokenizer } from '../../src/diffusion/tokenizer.js';
import { concatFeatures } from '../../src/diffusion/prompt-encoding.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { tinyModel } from '../support/tiny-models.js';
import { maxAbsDiff, recordFeeds, row } from '../support/session-spy.js';

const scratch = mkdtempSync(join(tmpdir(), 'sdxl-test-'));
const pipes: StableDiffusionPipeline[] = [];
const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
  for (const s of sessions) await s.release();
  rmSync(scratch, { recursive: true, force: true });
});

async function load(dir: string): Promise<StableDiffusionPipeline> {
  const p = await StableDiffusionPipeline.load(dir);
  pipes.push(p);
  return p;
}

async function copy(source: Promise<string>, name: string): Promise<string> {
  const dir = join(mkdtempSync(join(scratch, 'm-')), name);
  cpSync(await source, dir, { recursive: true });
  return dir;
}

const base: GenerationRequest = { prompt: 'a photo of a cat', seed: 3, steps: 2, guidanceScale: 5, width: 64, height: 96, count: 2 };

/** What diffusers' encode_prompt gives, computed here from the graphs directly. */
async function expectedEmbedding(dir: string, text: string): Promise<{ hidden: Float32Array; pooled: Float32Array }> {
  const parts: { hidden: Float32Array; dim: number }[] = [];
  let pooled: Float32Array = new Float32Array(0);
  for (const [tokenizer, encoder] of [
    ['tokenizer', 'text_encoder'],
    ['tokenizer_2', 'text_encoder_2'],
  ]) {
    const ids = (await ClipTokenizer.fromDir(join(dir, tokenizer))).encode(text);
    const session = await ort.InferenceSession.create(join(dir, encoder, 'model.onnx'));
    sessions.push(session);
    const out = await session.run({ input_ids: new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length]) });
    // Two layers: hidden_states.1 is hidden_states[-2].
    parts.push({ hidden: out['hidden_states.1'].data as Float32Array, dim: out['hidden_states.1'].dims[2] });
    if (out.text_embeds) pooled = out.text_embeds.data as Float32Array;
  }
  return { hidden: concatFeatures(parts, 77), pooled };
}

const isZero = (a: Float32Array) => a.every((v) => v === 0);

test('guided SDXL: hidden = both penultimate layers, pooled = text_encoder_2, zeros for no negative, time_ids', async () => {
  const dir = await tinyModel('sdxl');
  const pipe = await load(dir);
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate(base);
  assert.equal(feeds.length, 2, 'one UNet call per step');
  const f = feeds[0];
  assert.deepEqual(f.sample.dims, [4, 4, 12, 8]);
  assert.deepEqual(f.encoder_hidden_states.dims, [4, 77, 32 + 64]);
  assert.deepEqual(f.text_embeds.dims, [4, 64]);
  assert.deepEqual(f.time_ids.dims, [4, 6]);
  for (let i = 0; i < 4; i++) assert.deepEqual([...row(f.time_ids, i)], [96, 64, 0, 0, 96, 64], 'original (h, w), crop (0, 0), target (h, w)');

  const want = await expectedEmbedding(dir, base.prompt);
  for (const i of [0, 1]) {
    assert.ok(isZero(row(f.encoder_hidden_states, i)), 'unconditional hidden states are zeros');
    assert.ok(isZero(row(f.text_embeds, i)), 'unconditional pooled embedding is zeros');
  }
  for (const i of [2, 3]) {
    assert.ok(maxAbsDiff(row(f.encoder_hidden_states, i), want.hidden) < 1e-6, 'cond hidden = concat of penultimate layers');
    assert.ok(maxAbsDiff(row(f.text_embeds, i), want.pooled) < 1e-6, 'pooled = text_encoder_2 text_embeds');
  }
  assert.equal(pipe.runStats.textEncoderCalls, 2, 'the prompt through both encoders; no negative to encode');
  assert.equal(pipe.runStats.unetBatch, 4);
});

test('a negative prompt is encoded through both encoders; force_zeros_for_empty_prompt false encodes ""', async () => {
  const dir = await tinyModel('sdxl');
  const pipe = await load(dir);
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate({ ...base, count: 1, negativePrompt: 'blurry' });
  assert.equal(pipe.runStats.textEncoderCalls, 2, 'prompt and negative prompt batched through each encoder');
  const negative = await expectedEmbedding(dir, 'blurry');
  assert.ok(maxAbsDiff(row(feeds[0].encoder_hidden_states, 0), negative.hidden) < 1e-6);
  assert.ok(maxAbsDiff(row(feeds[0].text_embeds, 0), negative.pooled) < 1e-6);

  const keep = await copy(tinyModel('sdxl'), 'sdxl-keep');
  const index = JSON.parse(readFileSync(join(keep, 'model_index.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(keep, 'model_index.json'), JSON.stringify({ ...index, force_zeros_for_empty_prompt: false }));
  const pipe2 = await load(keep);
  const feeds2 = recordFeeds(pipe2);
  await pipe2.generate({ ...base, count: 1 });
  const empty = await expectedEmbedding(keep, '');
  assert.ok(maxAbsDiff(row(feeds2[0].encoder_hidden_states, 0), empty.hidden) < 1e-6, 'uncond = encoded ""');
  assert.ok(maxAbsDiff(row(feeds2[0].text_embeds, 0), empty.pooled) < 1e-6);
});

test('without guidance: one batch half, no unconditional encoding', async () => {
  const pipe = await load(await tinyModel('sdxl'));
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate({ ...base, guidanceScale: 1 });
  assert.deepEqual(feeds[0].text_embeds.dims, [2, 64]);
  assert.ok(!isZero(row(feeds[0].text_embeds, 0)));
  assert.equal(pipe.runStats.unetBatch, 2);
  assert.equal(pipe.runStats.textEncoderCalls, 2);
});

async function rgb(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}
function meanAbsDiff(a: Buffer, b: Buffer): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('the prompt changes the picture; the same seed repeats it exactly', async () => {
  const pipe = await load(await tinyModel('sdxl'));
  const req = { ...base, steps: 4, count: 1, width: 64, height: 64 };
  const a = (await pipe.generate(req)).images[0].png;
  const again = (await pipe.generate(req)).images[0].png;
  const b = (await pipe.generate({ ...req, prompt: 'an oil painting of a lighthouse at night' })).images[0].png;
  assert.ok(a.equals(again));
  assert.ok(meanAbsDiff(await rgb(a), await rgb(b)) > 0.5, 'different prompt, different picture');
});

test('text_embeds and time_ids change the tiny UNet output', async () => {
  const session = await ort.InferenceSession.create(join(await tinyModel('sdxl'), 'unet', 'model.onnx'));
  sessions.push(session);
  const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
  const feeds = {
    sample: new ort.Tensor('float32', wave(4 * 64, 0), [1, 4, 8, 8]),
    timestep: new ort.Tensor('int64', BigInt64Array.of(500n), [1]),
    encoder_hidden_states: new ort.Tensor('float32', wave(77 * 96, 1), [1, 77, 96]),
    text_embeds: new ort.Tensor('float32', wave(64, 2), [1, 64]),
    time_ids: new ort.Tensor('float32', Float32Array.of(1024, 1024, 0, 0, 1024, 1024), [1, 6]),
  };
  const out = async (changes: Partial<typeof feeds>) => (await session.run({ ...feeds, ...changes })).out_sample.data as Float32Array;
  const a = await out({});
  const mean = (x: Float32Array, y: Float32Array) => x.reduce((s, v, i) => s + Math.abs(v - y[i]), 0) / x.length;
  assert.ok(mean(a, await out({ text_embeds: new ort.Tensor('float32', wave(64, 5), [1, 64]) })) > 0.01, 'text_embeds matter');
  assert.ok(mean(a, await out({ time_ids: new ort.Tensor('float32', Float32Array.of(512, 768, 0, 0, 512, 768), [1, 6]) })) > 0.01, 'time_ids matter');
});

test('SDXL runs float16 graphs and image-to-image', async () => {
  const pipe = await load(await tinyModel({ layout: 'sdxl', float16: true }, 'sdxl-fp16'));
  const r = await pipe.generate({ ...base, count: 1 });
  assert.equal(r.images[0].height, 96);
  const xl = await load(await tinyModel('sdxl'));
  const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366cc' } })
    .png()
    .toBuffer();
  const same = await xl.generate({ ...base, count: 1, width: 64, height: 64, initImage: input, strength: 0 });
  assert.equal(meanAbsDiff(await rgb(same.images[0].png), await rgb(input)), 0);
  const changed = await xl.generate({ ...base, count: 1, steps: 4, width: 64, height: 64, initImage: input, strength: 0.5 });
  assert.ok(meanAbsDiff(await rgb(changed.images[0].png), await rgb(input)) > 0.5);
});

test('SDXL-Turbo: defaults of 1 step without guidance run one single-batch UNet call', async () => {
  const pipe = await load(await copy(tinyModel('sdxl'), 'sdxl-turbo'));
  pipe.resetStats();
  // What the CLI and the bot send when the user gives only a prompt: the model's defaults.
  const d = pipe.defaults;
  const r = await pipe.generate({ prompt: 'a cat', seed: 0, count: 1, steps: d.steps, guidanceScale: d.guidanceScale, width: 64, height: 64 });
  assert.equal(r.scheduler, 'euler_a');
  assert.equal(pipe.runStats.unetCalls, 1);
  assert.equal(pipe.runStats.unetBatch, 1);
});

test('mismatched SDXL parts fail at load time with the fix', async () => {
  // An encoder exported without hidden_states outputs.
  const noHidden = await copy(tinyModel('sdxl'), 'no-hidden');
  copyFileSync(join(await tinyModel(), 'text_encoder', 'model.onnx'), join(noHidden, 'text_encoder', 'model.onnx'));
  await assert.rejects(
    StableDiffusionPipeline.load(noHidden),
    (e: Error) => e instanceof ModelError && /hidden_states\.1/.test(e.message) && /optimum-cli/.test(e.message),
  );
  // An SDXL UNet in an SD 1.x folder.
  const xlUnet = await copy(tinyModel(), 'xl-unet');
  copyFileSync(join(await tinyModel('sdxl'), 'unet', 'model.onnx'), join(xlUnet, 'unet', 'model.onnx'));
  await assert.rejects(StableDiffusionPipeline.load(xlUnet), (e: Error) => e instanceof ModelError && /no text_encoder_2/.test(e.message));
  // An SD UNet in an SDXL folder.
  const sdUnet = await copy(tinyModel('sdxl'), 'sd-unet');
  copyFileSync(join(await tinyModel(), 'unet', 'model.onnx'), join(sdUnet, 'unet', 'model.onnx'));
  await assert.rejects(StableDiffusionPipeline.load(sdUnet), (e: Error) => e instanceof ModelError && /takes no text_embeds/.test(e.message));
});

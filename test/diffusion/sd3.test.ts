// Stable Diffusion 3 on the tiny SD3 (create-tiny --layout sd3, with and without T5): the
// prompt embedding as StableDiffusion3Pipeline.encode_prompt builds it, one batched transformer
// call per step, torch's initial noise, flow-match timesteps, img2img's strength rounding, the
// 16-channel preview, and the refusals.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { InputError, ModelError } from '../../src/diffusion/errors.js';
import { TorchGenerator } from '../../src/diffusion/rng.js';
import { ClipTokenizer } from '../../src/diffusion/tokenizer.js';
import { loadT5Tokenizer } from '../../src/diffusion/t5/tokenizer.js';
import { SD3_MAX_SEQUENCE_LENGTH } from '../../src/diffusion/sd3/prompt-encoding.js';
import type { GenerationProgress, GenerationRequest } from '../../src/diffusion/types.js';
import { tinyModel } from '../support/tiny-models.js';
import { maxAbsDiff, recordFeeds, row } from '../support/session-spy.js';

const scratch = mkdtempSync(join(tmpdir(), 'sd3-test-'));
const pipes: StableDiffusionPipeline[] = [];
const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
  for (const s of sessions) await s.release();
  rmSync(scratch, { recursive: true, force: true });
});

const withT5 = () => tinyModel({ layout: 'sd3' }, 'sd3');
const noT5 = () => tinyModel({ layout: 'sd3', t5: false }, 'sd3-no-t5');

async function load(dir: string, opts: Parameters<typeof StableDiffusionPipeline.load>[1] = {}): Promise<StableDiffusionPipeline> {
  const p = await StableDiffusionPipeline.load(dir, opts);
  pipes.push(p);
  return p;
}

async function copy(source: Promise<string>, name: string): Promise<string> {
  const dir = join(mkdtempSync(join(scratch, 'm-')), name);
  cpSync(await source, dir, { recursive: true });
  return dir;
}

async function session(path: string): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(path);
  sessions.push(s);
  return s;
}

// Tiny widths: CLIP-L 8, CLIP-G 16 (24 together, padded to T5's 32), pooled 8 + 16.
const L = 8;
const G = 16;
const JOINT = 32;
const CLIP_ROWS = 77;

const base: GenerationRequest = { prompt: 'a red house', seed: 5, steps: 3, guidanceScale: 4.5, width: 64, height: 96, count: 2 };

/** encode_prompt's pieces computed from the graphs directly: each CLIP's hidden_states[-2] and text_embeds, T5's state. */
async function expected(dir: string, text: string, t5: boolean) {
  const clip: { hidden: Float32Array; pooled: Float32Array }[] = [];
  for (const [tokenizer, encoder] of [
    ['tokenizer', 'text_encoder'],
    ['tokenizer_2', 'text_encoder_2'],
  ]) {
    const ids = (await ClipTokenizer.fromDir(join(dir, tokenizer))).encode(text);
    const out = await (await session(join(dir, encoder, 'model.onnx'))).run({ input_ids: new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length]) });
    // Two layers: hidden_states.1 is hidden_states[-2].
    clip.push({ hidden: out['hidden_states.1'].data as Float32Array, pooled: out.text_embeds.data as Float32Array });
  }
  let t5Hidden: Float32Array | undefined;
  if (t5) {
    const ids = (await loadT5Tokenizer(join(dir, 'tokenizer_3'))).encode(text, SD3_MAX_SEQUENCE_LENGTH);
    const out = await (await session(join(dir, 'text_encoder_3', 'model.onnx'))).run({
      input_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from(Array.from(ids), (x) => BigInt(x)),
        [1, ids.length],
      ),
    });
    t5Hidden = out.last_hidden_state.data as Float32Array;
  }
  return { clip, t5Hidden };
}

/** Row r of one batch item of encoder_hidden_states [batch, seq, JOINT]. */
function position(t: ort.Tensor, item: number, r: number): Float32Array {
  const [, seq, width] = t.dims;
  return (t.data as Float32Array).subarray((item * seq + r) * width, (item * seq + r + 1) * width);
}

async function checkEmbedding(dir: string, t5: boolean) {
  const pipe = await load(dir);
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate({ ...base, negativePrompt: 'blurry' });
  const f = feeds[0];
  const seq = CLIP_ROWS + SD3_MAX_SEQUENCE_LENGTH;
  assert.deepEqual(f.encoder_hidden_states.dims, [4, seq, JOINT], '[2 × count, 77 + 256, T5 width]');
  assert.deepEqual(f.pooled_projections.dims, [4, L + G]);
  assert.deepEqual(f.hidden_states.dims, [4, 16, 12, 8]);
  for (const [text, items] of [
    ['blurry', [0, 1]],
    [base.prompt, [2, 3]],
  ] as const) {
    const want = await expected(dir, text, t5);
    for (const item of items) {
      for (const r of [0, 5, 76]) {
        const got = position(f.encoder_hidden_states, item, r);
        assert.ok(maxAbsDiff(got.subarray(0, L), want.clip[0].hidden.subarray(r * L, (r + 1) * L)) < 1e-6, `CLIP-L penultimate at row ${r}`);
        assert.ok(maxAbsDiff(got.subarray(L, L + G), want.clip[1].hidden.subarray(r * G, (r + 1) * G)) < 1e-6, `CLIP-G penultimate at row ${r}`);
        assert.ok(
          got.subarray(L + G).every((v) => v === 0),
          'CLIP rows zero-padded to the T5 width',
        );
      }
      for (const r of [0, 3, SD3_MAX_SEQUENCE_LENGTH - 1]) {
        const got = position(f.encoder_hidden_states, item, CLIP_ROWS + r);
        if (want.t5Hidden) assert.ok(maxAbsDiff(got, want.t5Hidden.subarray(r * JOINT, (r + 1) * JOINT)) < 1e-6, `T5 row ${r}`);
        else
          assert.ok(
            got.every((v) => v === 0),
            'no text_encoder_3: zeros in its place',
          );
      }
      const pooled = row(f.pooled_projections, item);
      assert.ok(maxAbsDiff(pooled.subarray(0, L), want.clip[0].pooled) < 1e-6, 'pooled = CLIP-L text_embeds ‖ …');
      assert.ok(maxAbsDiff(pooled.subarray(L), want.clip[1].pooled) < 1e-6, '… ‖ CLIP-G text_embeds');
    }
  }
  // Prompt and negative through each encoder; T5 only when present.
  assert.equal(pipe.runStats.textEncoderCalls, t5 ? 6 : 4);
}

test('SD3 prompt embedding with T5: [CLIP-L ‖ CLIP-G ‖ 0] rows then T5 rows; pooled = both text_embeds', async () => {
  await checkEmbedding(await withT5(), true);
});

test('SD3 prompt embedding without text_encoder_3: zeros of T5 shape in its place', async () => {
  await checkEmbedding(await noT5(), false);
});

test('the T5 memory option (textEncoder3: false) runs a T5 folder with zeros instead', async () => {
  const pipe = await load(await withT5(), { textEncoder3: false });
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate({ ...base, count: 1 });
  assert.ok(position(feeds[0].encoder_hidden_states, 1, CLIP_ROWS + 2).every((v) => v === 0));
  assert.equal(pipe.runStats.textEncoderCalls, 4);
});

test('one transformer call per step, CFG batched (uncond, cond); noise = torch.randn for the seed; timesteps = σ × 1000', async () => {
  const pipe = await load(await noT5());
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  const events: GenerationProgress[] = [];
  const result = await pipe.generate({ ...base, steps: 4 }, { onProgress: (p) => events.push(p) });
  assert.equal(pipe.runStats.unetCalls, 4, 'one call per step');
  assert.equal(feeds.length, 4, 'four transformer session runs');
  assert.equal(pipe.runStats.unetBatch, 4, '2 × count');
  assert.equal(result.scheduler, 'flow_match_euler');
  const lh = 12;
  const lw = 8;
  for (let i = 0; i < 2; i++) {
    const noise = new TorchGenerator(BigInt(base.seed + i)).randn(16 * lh * lw);
    assert.ok(maxAbsDiff(row(feeds[0].hidden_states, i), noise) === 0, `image ${i}: uncond half starts from torch.randn(seed + ${i})`);
    assert.ok(maxAbsDiff(row(feeds[0].hidden_states, 2 + i), noise) === 0, 'cond half: the same latents');
  }
  const t0 = feeds[0].timestep;
  assert.equal(t0.type, 'float32');
  assert.equal((t0.data as Float32Array)[0], 1000, 'the first step is σ = 1');
  assert.ok((feeds[3].timestep.data as Float32Array)[0] < (feeds[1].timestep.data as Float32Array)[0]);
  // Progress previews: the 16-channel latent → RGB projection at latent size.
  assert.deepEqual(
    events.map((e) => e.step),
    [1, 2, 3, 4],
  );
  const preview = events[3].preview;
  assert.ok(preview);
  assert.deepEqual([preview.width, preview.height, preview.rgb.length], [lw, lh, lw * lh * 3]);
  const meta = await sharp(result.images[0].png).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 96]);
});

test('guidance 0 (Large Turbo): no negative batch, the negative prompt is never encoded', async () => {
  const dir = await copy(noT5(), 'stable-diffusion-3.5-large-turbo');
  const pipe = await load(dir);
  assert.equal(pipe.model.family, 'sd3.5-large-turbo');
  assert.deepEqual(pipe.defaults, { width: 1024, height: 1024, steps: 4, guidanceScale: 0, scheduler: 'flow_match_euler' });
  const feeds = recordFeeds(pipe);
  pipe.resetStats();
  await pipe.generate({ ...base, guidanceScale: 0, negativePrompt: 'blurry', steps: 2 });
  assert.equal(pipe.runStats.unetBatch, 2);
  assert.deepEqual(feeds[0].pooled_projections.dims, [2, L + G]);
  assert.equal(pipe.runStats.textEncoderCalls, 2, 'the prompt through both CLIPs only');
});

test('image-to-image: flow-match scale_noise start, SD3 strength rounding (10 steps at 0.75 run 8)', async () => {
  const pipe = await load(await noT5());
  const feeds = recordFeeds(pipe);
  const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .png()
    .toBuffer();
  pipe.resetStats();
  await pipe.generate({ ...base, width: 64, height: 64, count: 1, steps: 10, initImage: image, strength: 0.75 });
  assert.equal(pipe.runStats.unetCalls, 8, 'StableDiffusion3Img2ImgPipeline: t_start = int(10 − 7.5) = 2');
  assert.ok((feeds[0].timestep.data as Float32Array)[0] < 1000, 'starts part-way down the flow');
});

const RED = [200, 40, 40] as const;

/** A solid red input and a mask that is white (repaint) where `repaint(x, y)`, black elsewhere. */
async function inpaintInputs(width: number, height: number, repaint: (x: number, y: number) => boolean): Promise<{ image: Buffer; mask: Buffer }> {
  const image = await sharp({ create: { width, height, channels: 3, background: { r: RED[0], g: RED[1], b: RED[2] } } })
    .png()
    .toBuffer();
  const maskRgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (repaint(x, y)) maskRgb.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  const mask = await sharp(maskRgb, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return { image, mask };
}

/** The largest difference from the red input outside the mask, and the mean one inside it. */
async function keptAndRepainted(
  png: Uint8Array,
  repaint: (x: number, y: number) => boolean,
): Promise<{ keptOff: number; repaintedMean: number; width: number; height: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  let keptOff = 0;
  let repainted = 0;
  let inside = 0;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const o = (y * info.width + x) * 3;
      const off = Math.abs(data[o] - RED[0]) + Math.abs(data[o + 1] - RED[1]) + Math.abs(data[o + 2] - RED[2]);
      if (repaint(x, y)) {
        repainted += off;
        inside++;
      } else keptOff = Math.max(keptOff, off);
    }
  }
  return { keptOff, repaintedMean: repainted / inside, width: info.width, height: info.height };
}

test('inpainting as StableDiffusion3InpaintPipeline: the kept half comes back byte for byte, the masked half is repainted', async () => {
  const pipe = await load(await noT5());
  const leftHalf = (x: number) => x < 32;
  const { image, mask } = await inpaintInputs(64, 64, leftHalf);
  pipe.resetStats();
  const result = await pipe.generate({ ...base, width: 64, height: 64, count: 1, steps: 10, initImage: image, mask, strength: 0.75 });
  assert.equal(pipe.runStats.unetCalls, 8, 'the same strength rounding as image-to-image');
  const r = await keptAndRepainted(result.images[0].png, leftHalf);
  assert.equal(r.keptOff, 0, 'the kept half is the input, pixel for pixel');
  assert.ok(r.repaintedMean > 10, `the masked half was repainted (mean difference ${r.repaintedMean})`);
});

test('only masked inpainting on the blend path: the crop around the box is repainted at 64 × 96, the rest is the input', async () => {
  const pipe = await load(await noT5());
  const inBox = (x: number, y: number) => x >= 20 && x < 32 && y >= 40 && y < 52;
  const { image, mask } = await inpaintInputs(64, 96, inBox);
  const result = await pipe.generate({ ...base, width: 64, height: 96, count: 1, steps: 4, initImage: image, mask, inpaintArea: 'masked', inpaintPadding: 8 });
  const r = await keptAndRepainted(result.images[0].png, inBox);
  assert.deepEqual([r.width, r.height], [64, 96]);
  assert.equal(r.keptOff, 0, 'outside the box the input, pixel for pixel');
  assert.ok(r.repaintedMean > 10, `the box was repainted (mean difference ${r.repaintedMean})`);
});

test('refusals: a diffusion scheduler, sizes off the 16-pixel grid, ControlNet', async () => {
  const dir = await noT5();
  const pipe = await load(dir);
  await assert.rejects(
    pipe.generate({ ...base, scheduler: 'euler' }),
    (e: Error) => e instanceof InputError && /only with flow_match_euler, not euler/.test(e.message),
  );
  await assert.rejects(pipe.generate({ ...base, width: 72 }), (e: Error) => e instanceof InputError && /multiples of 16/.test(e.message));
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'white' } })
    .png()
    .toBuffer();
  await assert.rejects(
    pipe.generate({ ...base, controlnet: { model: 'canny' }, controlImage: png }),
    (e: Error) => e instanceof InputError && /ControlNet is not supported on Stable Diffusion 3/.test(e.message),
  );
  // The flow-matching scheduler is SD3's only.
  const sd = await load(await tinyModel());
  await assert.rejects(
    sd.generate({ ...base, scheduler: 'flow_match_euler' }),
    (e: Error) => e instanceof InputError && /flow-matching models/.test(e.message),
  );
});

test('an SD3 folder missing a required part names the file', async () => {
  for (const [remove, file] of [
    ['transformer/model.onnx', 'transformer/model.onnx'],
    ['text_encoder_2/model.onnx', 'text_encoder_2/model.onnx'],
    ['tokenizer_2/merges.txt', 'tokenizer_2/merges.txt'],
    ['vae_decoder/model.onnx', 'vae_decoder/model.onnx'],
    ['tokenizer_3/tokenizer.json', 'tokenizer_3/tokenizer.json'],
  ] as const) {
    const dir = await copy(withT5(), 'sd3-broken');
    rmSync(join(dir, remove));
    await assert.rejects(StableDiffusionPipeline.load(dir), (e: Error) => e instanceof ModelError && e.message.includes(`has no ${file}`), remove);
  }
});

test('SD3 families from names and the transformer config, with their cards’ defaults', async () => {
  const { detectSd3Family } = await import('../../src/diffusion/families.js');
  const none = { dualAttention: false, qkNorm: false };
  assert.equal(detectSd3Family(['stable-diffusion-3-medium-diffusers'], { ...none, numLayers: 24 }), 'sd3');
  assert.equal(detectSd3Family(['stable-diffusion-3.5-medium-onnx'], none), 'sd3.5-medium');
  assert.equal(detectSd3Family(['my-model'], { ...none, numLayers: 24, dualAttention: true, qkNorm: true }), 'sd3.5-medium');
  assert.equal(detectSd3Family(['sd35-large'], none), 'sd3.5-large');
  assert.equal(detectSd3Family(['x'], { ...none, numLayers: 38, qkNorm: true }), 'sd3.5-large');
  assert.equal(detectSd3Family(['stable-diffusion-3.5-large-turbo'], { ...none, numLayers: 38 }), 'sd3.5-large-turbo');
  const medium = await load(await copy(noT5(), 'stable-diffusion-3.5-medium'));
  // The size is transformer/config.json's sample_size × 8 (the tiny one's 32; Stability's 128 → 1024).
  assert.deepEqual(medium.defaults, { width: 256, height: 256, steps: 40, guidanceScale: 4.5, scheduler: 'flow_match_euler' });
  const sd3 = await load(await noT5());
  assert.deepEqual([sd3.model.family, sd3.defaults.steps, sd3.defaults.guidanceScale], ['sd3', 28, 7]);
  assert.deepEqual([sd3.model.vaeScalingFactor, sd3.model.vaeShiftFactor, sd3.model.latentChannels], [1.5305, 0.0609, 16]);
});

/** Renames a graph's inputs and outputs in place (what another exporter would have called them). */
function renameIo(path: string, names: Record<string, string>): void {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(readFileSync(path));
  const graph = model.graph!;
  const rename = (n: string) => names[n] ?? n;
  for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) v.name = rename(v.name ?? '');
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map(rename);
    node.output = (node.output ?? []).map(rename);
  }
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
}

test("TensorStack's layout (the MMDiT under unet/) and other exporters' names (sample in, out_sample out) run the same", async () => {
  const reference = await load(await noT5());
  const want = await reference.generateRaw({ ...base, count: 1 });
  const dir = await copy(noT5(), 'sd3-tensorstack');
  renameSync(join(dir, 'transformer'), join(dir, 'unet'));
  renameIo(join(dir, 'unet', 'model.onnx'), { hidden_states: 'sample', out_hidden_states: 'out_sample' });
  const pipe = await load(dir);
  assert.equal(pipe.model.family, 'sd3');
  assert.match(pipe.model.files.unet, /unet\/model\.onnx$/);
  const feeds = recordFeeds(pipe);
  const got = await pipe.generateRaw({ ...base, count: 1 });
  assert.deepEqual(Object.keys(feeds[0]).sort(), ['encoder_hidden_states', 'pooled_projections', 'sample', 'timestep']);
  assert.deepEqual(got.images[0].rgb, want.images[0].rgb, 'the same pixels');
});

test('memory options on SD3: released sessions and a tiled 16-channel VAE decode give (nearly) the same picture', async () => {
  const req = { ...base, width: 128, height: 128, count: 1 };
  const whole = await (await load(await noT5())).generateRaw(req);
  const saver = await load(await noT5(), { lowMemory: true, vaeTiling: { tileSize: 64, overlap: 16 } });
  saver.resetStats();
  const tiled = await saver.generateRaw(req);
  assert.equal(saver.runStats.vaeCalls, 9, 'a 16×16 latent in 8-latent tiles overlapping by 2: 3 × 3 tiles');
  assert.ok(maxAbsDiff(tiled.images[0].rgb, whole.images[0].rgb) <= 8, 'tiles blend into the same picture');
});

test('the safety checker runs on SD3 pictures when the folder has one; hires fix (Upscale Creative) redraws on the 16-pixel grid', async () => {
  const pipe = await load(await tinyModel({ layout: 'sd3', t5: false, safetyChecker: 'always' }, 'sd3-nsfw'));
  const r = await pipe.generate({ ...base, count: 1 });
  assert.equal(r.images[0].nsfw, true);
  const { runImageEdit } = await import('../../src/diffusion/image-edit.js');
  const up = await runImageEdit(pipe, { ...base, count: 1, steps: 4, initImage: r.images[0].png, edit: { kind: 'hires', scale: 1.6 } });
  const meta = await sharp(up.images[0].png).metadata();
  // 64×96 × 1.6 = 102.4×153.6: 96×160 on SD3's 16-pixel grid (the 8-pixel grid's 104×152 would be refused).
  assert.deepEqual([meta.width, meta.height], [96, 160]);
});

test('a long prompt: cut tokens are CLIP’s without T5, T5’s (256 tokens) with it', async () => {
  const long = Array.from({ length: 120 }, () => 'red').join(' ');
  const clipOnly = await (await load(await noT5())).generate({ ...base, prompt: long, count: 1, steps: 1 });
  assert.ok(clipOnly.truncatedTokens > 0, 'CLIP keeps 77 tokens');
  const t5 = await (await load(await withT5())).generate({ ...base, prompt: long, count: 1, steps: 1 });
  assert.equal(t5.truncatedTokens, 0, 'T5 saw all of it');
});

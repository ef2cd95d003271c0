import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import { CLIP_DEFAULTS, clipPixelValues, readClipPreprocessConfig } from '../../src/diffusion/clip-preprocess.js';
import { tinyModel, tinyModelWithSafetyChecker } from '../support/tiny-models.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';

const base: GenerationRequest = { prompt: 'a lighthouse', seed: 5, steps: 3, guidanceScale: 7.5, width: 64, height: 64, count: 2 };

async function rawRgb(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

async function flatPng(v: number, size = 64): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r: v, g: v, b: v } } })
    .png()
    .toBuffer();
}

test('nsfw flags: always flags every image, never none, and a model without a checker sets no flag', async () => {
  const always = await loadPipeline(await tinyModelWithSafetyChecker('always'));
  const never = await loadPipeline(await tinyModelWithSafetyChecker('never'));
  const plain = await loadPipeline(await tinyModel());
  assert.deepEqual(
    (await always.generate(base)).images.map((i) => i.nsfw),
    [true, true],
  );
  assert.deepEqual(
    (await never.generate(base)).images.map((i) => i.nsfw),
    [false, false],
  );
  assert.deepEqual(
    (await plain.generate(base)).images.map((i) => i.nsfw),
    [undefined, undefined],
  );
});

test('the engine never blacks out a flagged picture: pixels are those of the same model without a checker', async () => {
  const flagged = await (await loadPipeline(await tinyModelWithSafetyChecker('always'))).generate({ ...base, count: 1 });
  const plain = await (await loadPipeline(await tinyModel())).generate({ ...base, count: 1 });
  assert.equal(flagged.images[0].nsfw, true);
  const pixels = await rawRgb(flagged.images[0].png);
  assert.ok(pixels.equals(await rawRgb(plain.images[0].png)));
  assert.ok(
    pixels.some((v) => v > 0),
    'not black',
  );
});

test('threshold mode flags bright pictures and not dark ones, per image', async () => {
  const pipe = await loadPipeline(await tinyModelWithSafetyChecker({ meanAbove: 0 }));
  const run = async (v: number) => (await pipe.generate({ ...base, count: 1, initImage: await flatPng(v), strength: 0 })).images[0].nsfw;
  assert.equal(await run(255), true, 'white: clip mean ≈ +1.9');
  assert.equal(await run(200), true);
  assert.equal(await run(40), false);
  assert.equal(await run(0), false, 'black: clip mean ≈ -1.8');

  // Generated pictures: the flag is exactly "mean of the CLIP input > threshold", image by image.
  // The threshold is put between this batch's brightest and darkest picture (they depend on the
  // tokenizer files, which differ with and without ../shared), so the batch has both kinds.
  const batchMeans = async (path: string) => {
    const result = await (await loadPipeline(path)).generate({ ...base, count: 4 });
    const means: number[] = [];
    for (const img of result.images) {
      const clip = await clipPixelValues(new Uint8Array(await rawRgb(img.png)), 64, 64);
      means.push(clip.data.reduce((s, v) => s + v, 0) / clip.data.length);
    }
    return { result, means };
  };
  const probe = await batchMeans(await tinyModelWithSafetyChecker('never'));
  const threshold = (Math.min(...probe.means) + Math.max(...probe.means)) / 2;
  const { result, means } = await batchMeans(await tinyModelWithSafetyChecker({ meanAbove: threshold }));
  assert.deepEqual(means, probe.means, 'the checker does not change the pictures');
  assert.deepEqual(
    result.images.map((i) => i.nsfw),
    means.map((m) => m > threshold),
    `clip means ${means.map((m) => m.toFixed(3))}`,
  );
  assert.ok(result.images.some((i) => i.nsfw) && result.images.some((i) => !i.nsfw), 'this batch has both kinds');
});

test('CLIP preprocessing: shortest side to 224, centre crop, CLIP mean/std normalisation', async () => {
  // 672×224: three 224-wide bands (red, green, blue); no resize is needed, the crop is the green band.
  const w = 672;
  const h = 224;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb[(y * w + x) * 3 + Math.floor(x / 224)] = 255;
  const out = await clipPixelValues(rgb, w, h);
  assert.equal(out.width, 224);
  assert.equal(out.height, 224);
  assert.equal(out.data.length, 3 * 224 * 224);
  const plane = 224 * 224;
  const [mean, std] = [CLIP_DEFAULTS.mean, CLIP_DEFAULTS.std];
  const at = (c: number, x: number, y: number) => out.data[c * plane + y * 224 + x];
  for (const [x, y] of [
    [0, 0],
    [112, 112],
    [223, 223],
  ]) {
    assert.ok(Math.abs(at(0, x, y) - (0 - mean[0]) / std[0]) < 1e-5, 'red is 0 in the green band');
    assert.ok(Math.abs(at(1, x, y) - (1 - mean[1]) / std[1]) < 1e-5, 'green is 1');
    assert.ok(Math.abs(at(2, x, y) - (0 - mean[2]) / std[2]) < 1e-5, 'blue is 0');
  }

  // A portrait 64×128 image: upscaled so the short side is 224 (224×448), then the middle 224 rows.
  const tall = new Uint8Array(64 * 128 * 3);
  for (let y = 0; y < 128; y++) for (let x = 0; x < 64; x++) tall.fill(y < 32 || y >= 96 ? 0 : 255, (y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
  const t = await clipPixelValues(tall, 64, 128);
  assert.equal(t.data.length, 3 * plane);
  const white = (1 - mean[0]) / std[0];
  assert.ok(Math.abs(t.data[112 * 224 + 112] - white) < 1e-4, 'centre is white');
  assert.ok(Math.abs(t.data[2 * 224 + 5] - white) < 0.05, 'top of the crop is still inside the white middle half');
});

test('preprocessor_config.json: old and new spellings, custom values, defaults when absent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-config-'));
  const path = join(dir, 'preprocessor_config.json');
  assert.deepEqual(readClipPreprocessConfig(join(dir, 'missing.json')), CLIP_DEFAULTS);
  // runwayml/stable-diffusion-v1-5's feature_extractor (transformers < 4.26 spelling).
  writeFileSync(
    path,
    JSON.stringify({
      crop_size: 224,
      do_center_crop: true,
      do_normalize: true,
      do_resize: true,
      feature_extractor_type: 'CLIPFeatureExtractor',
      image_mean: CLIP_DEFAULTS.mean,
      image_std: CLIP_DEFAULTS.std,
      resample: 3,
      size: 224,
    }),
  );
  assert.deepEqual(readClipPreprocessConfig(path), CLIP_DEFAULTS);
  writeFileSync(
    path,
    JSON.stringify({
      size: { shortest_edge: 256 },
      crop_size: { height: 240, width: 200 },
      image_mean: [0.5, 0.5, 0.5],
      image_std: [0.5, 0.5, 0.5],
      rescale_factor: 0.5,
    }),
  );
  const c = readClipPreprocessConfig(path);
  assert.equal(c.shortestEdge, 256);
  assert.deepEqual([c.cropWidth, c.cropHeight], [200, 240]);
  assert.deepEqual(c.mean, [0.5, 0.5, 0.5]);
  assert.equal(c.rescaleFactor, 0.5);
  writeFileSync(path, '{"size": "big"}');
  assert.throws(() => readClipPreprocessConfig(path), /malformed/);
});

test('the tiny checker has the IO of real exports and blacks out flagged images in out_images', async () => {
  const dir = await tinyModelWithSafetyChecker('always');
  const s = await ort.InferenceSession.create(join(dir, 'safety_checker', 'model.onnx'));
  try {
    const sig = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
      Object.fromEntries(list.map((m) => [m.name, m.isTensor ? { type: m.type, shape: [...m.shape] } : null]));
    assert.deepEqual(sig(s.inputMetadata), {
      clip_input: { type: 'float32', shape: ['batch', 'channels', 'height', 'width'] },
      images: { type: 'float32', shape: ['batch', 'height', 'width', 'channels'] },
    });
    assert.deepEqual(sig(s.outputMetadata), {
      out_images: { type: 'float32', shape: ['batch', 'height', 'width', 'channels'] },
      has_nsfw_concepts: { type: 'bool', shape: ['batch'] },
    });
    const out = await s.run({
      clip_input: new ort.Tensor('float32', new Float32Array(2 * 3 * 224 * 224).fill(0.1), [2, 3, 224, 224]),
      images: new ort.Tensor('float32', new Float32Array(2 * 8 * 8 * 3).fill(0.7), [2, 8, 8, 3]),
    });
    assert.deepEqual([...(out.has_nsfw_concepts.data as Uint8Array)].map(Boolean), [true, true]);
    assert.ok((out.out_images.data as Float32Array).every((v) => v === 0));
  } finally {
    await s.release();
  }
});

test('float16 exports work; the safetyChecker: false load option skips the check', async () => {
  const dir = await tinyModelWithSafetyChecker('always', { float16: true });
  const fp16 = await loadPipeline(dir);
  assert.deepEqual(
    (await fp16.generate({ ...base, count: 1 })).images.map((i) => i.nsfw),
    [true],
  );
  const skipped = await loadPipeline(dir, { safetyChecker: false });
  assert.notEqual(skipped, fp16);
  assert.deepEqual(
    (await skipped.generate({ ...base, count: 1 })).images.map((i) => i.nsfw),
    [undefined],
  );
});

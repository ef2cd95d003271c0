import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { loadPipeline, StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { InputError, ModelError, GenerationAbortedError } from '../../src/diffusion/errors.js';
import { readTextChunks } from '../../src/diffusion/png.js';
import { tinyModel } from '../support/tiny-models.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';

const base: GenerationRequest = {
  prompt: 'a photo of a cat',
  seed: 42,
  steps: 4,
  guidanceScale: 7.5,
  width: 64,
  height: 64,
  count: 1,
};

async function rgbOf(png: Buffer) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, info };
}

function meanAbsDiff(a: Buffer, b: Buffer): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

test('same seed gives a byte-identical PNG, another seed a different image', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const a = await pipe.generate(base);
  const b = await pipe.generate(base);
  const c = await pipe.generate({ ...base, seed: 43 });
  assert.ok(a.images[0].png.equals(b.images[0].png), 'same seed must give identical bytes');
  const [ra, rc] = [await rgbOf(a.images[0].png), await rgbOf(c.images[0].png)];
  assert.equal(ra.info.width, 64);
  assert.equal(ra.info.height, 64);
  assert.ok(meanAbsDiff(ra.data, rc.data) > 1, 'different seeds must give different pixels');
});

test('the prompt changes the picture', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const a = await rgbOf((await pipe.generate(base)).images[0].png);
  const b = await rgbOf((await pipe.generate({ ...base, prompt: 'an oil painting of a lighthouse at night' })).images[0].png);
  assert.ok(meanAbsDiff(a.data, b.data) > 0.5);
});

test('exactly one batched UNet call per step with guidance on, a half-size batch with it off', async () => {
  const pipe = await loadPipeline(await tinyModel());
  pipe.resetStats();
  await pipe.generate({ ...base, steps: 5, count: 2, scheduler: 'euler' });
  assert.equal(pipe.runStats.unetCalls, 5);
  assert.equal(pipe.runStats.unetBatch, 4, 'uncond + cond for 2 images in one call');
  assert.equal(pipe.runStats.textEncoderCalls, 1, 'prompt and negative prompt in one batch-of-two call');
  pipe.resetStats();
  await pipe.generate({ ...base, steps: 3, count: 2, guidanceScale: 1, scheduler: 'euler' });
  assert.equal(pipe.runStats.unetCalls, 3);
  assert.equal(pipe.runStats.unetBatch, 2, 'guidance ≤ 1 skips the unconditional half');
  assert.equal(pipe.runStats.textEncoderCalls, 1);
});

test('image i of a batch is what seed + i alone gives', async () => {
  const pipe = await loadPipeline(await tinyModel());
  // The model's scheduler, and Euler / Euler a, which step into per-job buffers (stepInto).
  for (const scheduler of [undefined, 'euler', 'euler_a'] as const) {
    for (const guidanceScale of [7.5, 0]) {
      const req = { ...base, scheduler, guidanceScale, steps: 6 };
      const batch = await pipe.generate({ ...req, count: 3 });
      assert.deepEqual(
        batch.images.map((i) => i.seed),
        [42, 43, 44],
      );
      for (const i of [0, 2]) {
        const single = await pipe.generate({ ...req, seed: 42 + i });
        const a = await rgbOf(batch.images[i].png);
        const b = await rgbOf(single.images[0].png);
        assert.ok(meanAbsDiff(a.data, b.data) < 0.5, `${scheduler ?? 'model scheduler'}, guidance ${guidanceScale}: image ${i} agrees`);
      }
    }
  }
});

test('PNG carries the parameters in a text chunk', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const r = await pipe.generate({ ...base, negativePrompt: 'blurry', scheduler: 'euler' });
  const text = readTextChunks(r.images[0].png).parameters;
  assert.match(text, /^a photo of a cat\nNegative prompt: blurry\nSteps: 4, Sampler: euler, CFG scale: 7.5, Seed: 42, Size: 64x64, Model: /);
  const uni = await pipe.generate({ ...base, prompt: 'un café ☕ à Paris', steps: 1 });
  assert.match(readTextChunks(uni.images[0].png).parameters, /^un café ☕ à Paris/);
});

test('progress per step with a latent-size preview, and cancellation between steps', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const seen: number[] = [];
  await pipe.generate(
    { ...base, scheduler: 'ddim' },
    {
      onProgress: (p) => {
        seen.push(p.step);
        assert.equal(p.totalSteps, 4);
        assert.equal(p.preview?.width, 8);
        assert.equal(p.preview?.rgb.length, 8 * 8 * 3);
      },
    },
  );
  assert.deepEqual(seen, [1, 2, 3, 4]);
  const ac = new AbortController();
  pipe.resetStats();
  await assert.rejects(
    pipe.generate({ ...base, steps: 10, scheduler: 'euler' }, { onProgress: (p) => p.step === 2 && ac.abort(), signal: ac.signal }),
    GenerationAbortedError,
  );
  assert.equal(pipe.runStats.unetCalls, 2, 'stops at the next step');
});

test('every scheduler of the first set runs end to end', async () => {
  const pipe = await loadPipeline(await tinyModel());
  for (const scheduler of ['pndm', 'ddim', 'euler', 'euler_a', 'dpmpp_2m', 'lcm'] as const) {
    const r = await pipe.generate({ ...base, steps: 3, scheduler });
    assert.equal(r.scheduler, scheduler);
    const { data } = await rgbOf(r.images[0].png);
    assert.ok(
      data.some((v) => v > 0 && v < 255),
      `${scheduler} gives a real image`,
    );
  }
});

for (const [label, options] of [
  ['float16 graphs', { float16: true }],
  ['float timestep', { timestep: 'float' }],
  ['rank-0 float timestep', { timestep: 'float-scalar' }],
  ['external weights and a v-prediction config', { externalData: true, predictionType: 'v_prediction' }],
] as const) {
  test(`adapts to ${label}`, async () => {
    const dir = await tinyModel(options as never, label.replace(/\W+/g, '-'));
    const pipe = await loadPipeline(dir);
    const a = await pipe.generate(base);
    const b = await pipe.generate(base);
    assert.ok(a.images[0].png.equals(b.images[0].png));
    const { data, info } = await rgbOf(a.images[0].png);
    assert.equal(info.width, 64);
    assert.ok(data.some((v) => v > 0 && v < 255));
    await pipe.dispose();
  });
}

test('image-to-image: strength 0 returns the input, higher strengths change it progressively', async () => {
  for (const vaeEncoderOutput of ['latent_sample', 'latent_parameters'] as const) {
    const pipe = await loadPipeline(await tinyModel({ vaeEncoderOutput }, `img2img-${vaeEncoderOutput}`));
    const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366cc' } })
      .composite([
        {
          input: await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ffcc00' } })
            .png()
            .toBuffer(),
          left: 16,
          top: 16,
        },
      ])
      .png()
      .toBuffer();
    const inputRgb = await rgbOf(input);
    const same = await pipe.generate({ ...base, initImage: input, strength: 0 });
    assert.ok(meanAbsDiff((await rgbOf(same.images[0].png)).data, inputRgb.data) === 0, 'strength 0 is the input');
    const low = await rgbOf((await pipe.generate({ ...base, steps: 10, initImage: input, strength: 0.3 })).images[0].png);
    const high = await rgbOf((await pipe.generate({ ...base, steps: 10, initImage: input, strength: 1 })).images[0].png);
    assert.ok(meanAbsDiff(low.data, high.data) > 0.5, 'strength changes the result');
    await pipe.dispose();
  }
});

test('bad input gets one clear error naming the fix', async () => {
  const pipe = await loadPipeline(await tinyModel());
  await assert.rejects(pipe.generate({ ...base, steps: -3 }), (e: Error) => e instanceof InputError && /steps must be at least 1/.test(e.message));
  await assert.rejects(pipe.generate({ ...base, width: 100 }), (e: Error) => e instanceof InputError && /multiple of 8/.test(e.message));
  await assert.rejects(pipe.generate({ ...base, count: 0 }), InputError);
  await assert.rejects(StableDiffusionPipeline.load('/nonexistent/model'), (e: Error) => e instanceof ModelError && /create-tiny/.test(e.message));
});

// Image-to-image on the tiny model, against diffusers' StableDiffusionImg2ImgPipeline semantics:
// the tail of the timesteps, the start latents, the order of generator draws.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { rgbToChw } from '../../src/diffusion/image-io.js';
import { prepareImage } from '../../src/diffusion/image-prep.js';
import { strengthTail } from '../../src/diffusion/img2img.js';
import { TorchGenerator } from '../../src/diffusion/rng.js';
import { createScheduler } from '../../src/diffusion/schedulers/index.js';
import type { GenerationRequest, SchedulerName } from '../../src/diffusion/types.js';
import { maxAbsDiff, recordFeeds, row } from '../support/session-spy.js';
import { tinyModel } from '../support/tiny-models.js';

const K = 0.18215;
const pipes: StableDiffusionPipeline[] = [];
const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
  for (const s of sessions) await s.release();
});

async function load(vaeEncoderOutput: 'latent_sample' | 'latent_parameters' = 'latent_sample') {
  const dir = await tinyModel({ vaeEncoderOutput }, `img2img-${vaeEncoderOutput}`);
  const pipe = await StableDiffusionPipeline.load(dir);
  pipes.push(pipe);
  return { pipe, dir };
}

/** Odd-sized: 67 × 45 diagonal stripes, so cropping and scaling show. */
async function oddInput(): Promise<Buffer> {
  const [w, h] = [67, 45];
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set((x + y) % 12 < 6 ? [230, 180, 40] : [30, 60, 170], (y * w + x) * 3);
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}

async function rgbOf(png: Buffer): Promise<Buffer> {
  return (await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data;
}

const base: GenerationRequest = { prompt: 'a watercolour harbour', seed: 5, steps: 10, guidanceScale: 7.5, width: 96, height: 64, count: 1 };

test("diffusers' get_timesteps: the last int(steps × strength) timesteps, and where they start", () => {
  const ts = [901, 801, 701, 601, 501, 401, 301, 201, 101, 1];
  assert.deepEqual(strengthTail(ts, 10, 0.3), { timesteps: [201, 101, 1], beginIndex: 7 });
  assert.deepEqual(strengthTail(ts, 10, 1), { timesteps: ts, beginIndex: 0 });
  assert.deepEqual(strengthTail(ts, 10, 0.05), { timesteps: [], beginIndex: 10 });
  // 0.7 × 10 is 7.000000000000001 in floating point, as in Python: still 7.
  assert.equal(strengthTail(ts, 10, 0.7).timesteps.length, 7);
  assert.deepEqual(strengthTail([3, 3, 2, 2, 1, 1], 3, 0.34, 2), { timesteps: [1, 1], beginIndex: 4 });
});

test('strength 0 returns the input, pixel-equal after the grid normalisation', async () => {
  const { pipe } = await load();
  const input = await oddInput();
  pipe.resetStats();
  const r = await pipe.generate({ ...base, count: 2, initImage: input, strength: 0 });
  assert.equal(pipe.runStats.unetCalls, 0);
  const expected = Buffer.from(await prepareImage(input, 96, 64));
  for (const image of r.images) {
    assert.deepEqual([image.width, image.height], [96, 64]);
    assert.ok((await rgbOf(image.png)).equals(expected));
  }
});

test('the UNet runs exactly the tail of the timesteps', async () => {
  const { pipe } = await load();
  const feeds = recordFeeds(pipe);
  const cases: [SchedulerName, number, number, number][] = [
    ['ddim', 10, 0.3, 3],
    ['ddim', 10, 0.55, 5],
    ['ddim', 10, 1, 10],
    ['euler', 10, 0.3, 3],
    ['dpmpp_2m', 7, 0.5, 3],
    ['euler_a', 6, 0.7, 4],
    // PNDM's schedule has steps + 1 entries (its first timestep twice); the tail keeps one more.
    ['pndm', 10, 0.3, 4],
    ['ddim', 4, 0.2, 0],
  ];
  for (const [scheduler, steps, strength, calls] of cases) {
    feeds.length = 0;
    pipe.resetStats();
    const totals: number[] = [];
    await pipe.generate({ ...base, scheduler, steps, strength, initImage: await oddInput() }, { onProgress: (p) => totals.push(p.totalSteps) });
    const what = `${scheduler} ${steps} × ${strength}`;
    assert.equal(pipe.runStats.unetCalls, calls, what);
    const reference = createScheduler(scheduler, pipe.model.schedulerConfig);
    reference.setTimesteps(steps);
    const tail = strengthTail(reference.timesteps, steps, strength).timesteps;
    assert.equal(tail.length, calls, what);
    assert.deepEqual(
      feeds.map((f) => Number((f.timestep.data as BigInt64Array)[0])),
      tail.map((t) => Math.trunc(t)),
      `${what}: timesteps fed`,
    );
    // Progress counts steps, not UNet calls: PNDM's repeated warm-up timestep is not a step.
    if (calls) assert.equal(totals.at(-1), scheduler === 'pndm' ? calls - 1 : calls, `${what}: progress total`);
  }
});

for (const output of ['latent_sample', 'latent_parameters'] as const) {
  test(`strength 1 (${output}) starts as diffusers' img2img does: the input noised to the first timestep`, async () => {
    const { pipe, dir } = await load(output);
    const feeds = recordFeeds(pipe);
    const input = await oddInput();
    const req = { ...base, scheduler: 'ddim' as const, steps: 6 };
    pipe.resetStats();
    const i2i = await pipe.generate({ ...req, initImage: input, strength: 1 });
    assert.equal(pipe.runStats.unetCalls, 6, 'every step runs');

    // Expected start: encoder run directly, its latent sample (latent_parameters: the first draw),
    // the noise (the next draw), DDIM's add_noise at the first timestep. DDIM feeds latents unscaled.
    const encoder = await ort.InferenceSession.create(join(dir, 'vae_encoder', 'model.onnx'));
    sessions.push(encoder);
    const chw = rgbToChw(await prepareImage(input, 96, 64), 96, 64);
    const enc = (await encoder.run({ sample: new ort.Tensor('float32', chw, [1, 3, 64, 96]) }))[output].data as Float32Array;
    const n = 4 * 8 * 12;
    const g = new TorchGenerator(BigInt(base.seed));
    const eps = output === 'latent_parameters' ? g.randn(n) : undefined;
    const x0 = Float32Array.from({ length: n }, (_, i) => (eps ? enc[i] + Math.exp(0.5 * enc[n + i]) * eps[i] : enc[i]) * K);
    const noise = g.randn(n);
    const ddim = createScheduler('ddim', pipe.model.schedulerConfig);
    ddim.setTimesteps(6);
    const expected = ddim.addNoise(x0, noise, ddim.timesteps[0]);
    assert.ok(maxAbsDiff(row(feeds[0].sample, 0), expected) < 1e-5, 'start latents');
    // Text-to-image would start from the noise alone; at strength 1 a trace of the input remains.
    assert.ok(maxAbsDiff(row(feeds[0].sample, 0), noise) > 0.05);
    const t2i = await pipe.generate(req);
    assert.ok(!(await rgbOf(i2i.images[0].png)).equals(await rgbOf(t2i.images[0].png)), 'not text-to-image (see README)');
  });
}

test('image i of an image-to-image batch is what seed + i alone gives', async () => {
  const { pipe } = await load('latent_parameters');
  const req = { ...base, scheduler: 'euler_a' as const, initImage: await oddInput(), strength: 0.6 };
  const batch = await pipe.generate({ ...req, count: 2 });
  const single = await pipe.generate({ ...req, seed: base.seed + 1 });
  assert.ok(maxAbsDiff(await rgbOf(batch.images[1].png), await rgbOf(single.images[0].png)) <= 1);
  assert.ok(maxAbsDiff(await rgbOf(batch.images[0].png), await rgbOf(single.images[0].png)) > 1, 'seeds differ');
});

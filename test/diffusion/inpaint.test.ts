// Inpainting on the tiny models: a 9-channel inpainting UNet (mask and masked-image latents
// concatenated) and a regular UNet (known region blended back every step), the mask's threshold,
// blur and latent grid, and the paste over the original.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { InputError } from '../../src/diffusion/errors.js';
import { rgbToChw } from '../../src/diffusion/image-io.js';
import { prepareImage } from '../../src/diffusion/image-prep.js';
import { latentMask, maskedImageChw, maskFromPlane, prepareMask } from '../../src/diffusion/inpaint-mask.js';
import { prepareInpaint } from '../../src/diffusion/inpaint.js';
import { TorchGenerator } from '../../src/diffusion/rng.js';
import { createScheduler } from '../../src/diffusion/schedulers/index.js';
import type { LoadedSession } from '../../src/diffusion/sessions.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { maxAbsDiff, recordFeeds, row } from '../support/session-spy.js';
import { tinyModel } from '../support/tiny-models.js';
import { gradientPng } from '../support/images.js';

const SIZE = 64;
const LATENT = SIZE / 8;
const PLANE = LATENT * LATENT;
const K = 0.18215; // the tiny VAE's scaling_factor

const pipes: StableDiffusionPipeline[] = [];
const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const p of pipes) await p.dispose();
  for (const s of sessions) await s.release();
});

async function load(options: Parameters<typeof tinyModel>[0] = {}): Promise<{ pipe: StableDiffusionPipeline; dir: string }> {
  const dir = await tinyModel(options, 'inpaint');
  const pipe = await StableDiffusionPipeline.load(dir);
  pipes.push(pipe);
  return { pipe, dir };
}

const inputPng = () => gradientPng(SIZE);

/** White (repaint) from column `from` on, black elsewhere, at any size. */
async function rightMask(width: number, height: number, from: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = from; x < width; x++) raw[y * width + x] = 255;
  return sharp(raw, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

async function rgbOf(png: Buffer): Promise<Buffer> {
  return (await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data;
}

/** Every decoder call's latent input (the pipeline's latents ÷ scaling factor). */
function recordDecoderInputs(pipe: StableDiffusionPipeline): Float32Array[] {
  const { session } = (pipe as unknown as { vaeDecoder: LoadedSession }).vaeDecoder;
  const run = session.run.bind(session) as (feeds: Record<string, ort.Tensor>) => Promise<ort.InferenceSession.ReturnType>;
  const seen: Float32Array[] = [];
  session.run = ((feeds: Record<string, ort.Tensor>) => {
    seen.push(Float32Array.from(feeds.latent_sample.data as Float32Array));
    return run(feeds);
  }) as typeof session.run;
  return seen;
}

/** The tiny vae_encoder run directly on CHW pixels: [4 or 8, 8, 8]. */
async function encodeDirect(dir: string, chw: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(join(dir, 'vae_encoder', 'model.onnx'));
  sessions.push(s);
  const out = await s.run({ sample: new ort.Tensor('float32', chw, [1, 3, SIZE, SIZE]) });
  return Float32Array.from(out[s.outputNames[0]].data as Float32Array);
}

const base: GenerationRequest = { prompt: 'a red balloon', seed: 11, steps: 5, guidanceScale: 7.5, width: SIZE, height: SIZE, count: 1, scheduler: 'ddim' };

test('mask: luminance thresholded at one half, blur feathers the edge and rounds the region', async () => {
  const plane = new Uint8Array([0, 127, 128, 255]);
  const m = await maskFromPlane(plane, 2, 2);
  assert.deepEqual([...m.repaint], [0, 0, 1, 1]);
  assert.deepEqual([...m.soft], [0, 0, 1, 1]);
  const inverted = await maskFromPlane(plane, 2, 2, 0, true);
  assert.deepEqual([...inverted.repaint], [1, 1, 0, 0], 'inverted: dark repaints, light keeps');

  // A hard vertical edge at x = 16 plus a one-pixel speck far away on the kept side.
  const edge = new Uint8Array(32 * 32);
  for (let y = 0; y < 32; y++) for (let x = 16; x < 32; x++) edge[y * 32 + x] = 255;
  edge[4 * 32 + 3] = 255;
  const hard = await maskFromPlane(edge, 32, 32);
  assert.equal(hard.repaint[4 * 32 + 3], 1, 'without blur the speck is repainted');
  const soft = await maskFromPlane(edge, 32, 32, 2);
  const at = (x: number) => soft.soft[20 * 32 + x];
  assert.ok(at(15) > 0.2 && at(15) < 0.5 && at(16) > 0.5 && at(16) < 0.8, `feathered edge: ${at(15)}, ${at(16)}`);
  assert.equal(at(2), 0, 'far from the edge nothing is touched');
  assert.equal(at(30), 1);
  assert.equal(soft.repaint[20 * 32 + 15], 0);
  assert.equal(soft.repaint[20 * 32 + 16], 1, 'the region stays where it was');
  assert.equal(soft.repaint[4 * 32 + 3], 0, 'a speck smaller than the blur is dropped');
});

test('mask: the latent grid samples the top-left pixel of each 8×8 block, like torch nearest', async () => {
  const plane = new Uint8Array(16 * 16);
  plane[8 * 16 + 8] = 255; // top-left of latent block (1, 1)
  plane[9 * 16 + 1] = 255; // inside block (1, 0), not its top-left
  const m = latentMask(await maskFromPlane(plane, 16, 16));
  assert.deepEqual([...m], [0, 0, 0, 1]);
});

test('mask: the masked image is mid-grey (0) where it repaints, the input elsewhere', async () => {
  const chw = Float32Array.from({ length: 3 * 4 }, (_, i) => (i % 4) / 4 - 0.5);
  const mask = await maskFromPlane(new Uint8Array([0, 255, 0, 255]), 2, 2);
  assert.deepEqual([...maskedImageChw(chw, mask)], [-0.5, 0, 0, 0, -0.5, 0, 0, 0, -0.5, 0, 0, 0]);
});

for (const inpainting of [false, true]) {
  const kind = inpainting ? '9-channel inpainting UNet' : 'regular UNet';
  test(`${kind}: the kept region is the input's, byte for byte; the masked one is repainted`, async () => {
    const { pipe } = await load({ inpainting });
    const input = await inputPng();
    const inputRgb = await rgbOf(input);
    for (const maskBlur of [0, 3]) {
      const r = await pipe.generate({ ...base, initImage: input, mask: await rightMask(SIZE, SIZE, 32), maskBlur });
      const out = await rgbOf(r.images[0].png);
      // Blur 3 feathers about ±6 pixels around x = 32.
      const keptUpTo = maskBlur ? 24 : 32;
      let repaintedDiff = 0;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          for (let c = 0; c < 3; c++) {
            const i = (y * SIZE + x) * 3 + c;
            if (x < keptUpTo) assert.equal(out[i], inputRgb[i], `kept pixel ${x},${y} (blur ${maskBlur})`);
            if (x >= 40) repaintedDiff += Math.abs(out[i] - inputRgb[i]);
          }
        }
      }
      assert.ok(repaintedDiff / (24 * SIZE * 3) > 5, `the masked region is repainted (blur ${maskBlur})`);
    }
  });
}

test('9-channel UNet: sample is [latents, mask, masked-image latents] on channels, every step', async () => {
  const { pipe, dir } = await load({ inpainting: true });
  const json = (path: string) => JSON.parse(readFileSync(join(dir, path), 'utf8'));
  assert.equal(json('model_index.json')._class_name, 'StableDiffusionInpaintPipeline', 'as real inpainting exports');
  assert.equal(json('unet/config.json').in_channels, 9);
  const feeds = recordFeeds(pipe);
  const input = await inputPng();
  pipe.resetStats();
  await pipe.generate({ ...base, initImage: input, mask: await rightMask(SIZE, SIZE, 32) });
  assert.equal(pipe.runStats.unetCalls, base.steps, 'strength 1 (the inpainting default) runs every step');
  assert.equal(feeds.length, base.steps);

  // Expected masked-image latents: the tiny encoder run directly on the input with its right half grey.
  const chw = rgbToChw(await rgbOf(input), SIZE, SIZE);
  for (let c = 0; c < 3; c++) for (let y = 0; y < SIZE; y++) for (let x = 32; x < SIZE; x++) chw[c * SIZE * SIZE + y * SIZE + x] = 0;
  const masked = (await encodeDirect(dir, chw)).map((v) => v * K);

  for (const f of feeds) {
    assert.deepEqual(f.sample.dims, [2, 9, LATENT, LATENT], 'uncond + cond rows of 9 channels');
    for (const r of [0, 1]) {
      const sample = row(f.sample, r);
      const mask = sample.subarray(4 * PLANE, 5 * PLANE);
      for (let i = 0; i < PLANE; i++) assert.equal(mask[i], i % LATENT >= 4 ? 1 : 0, `mask channel at ${i}`);
      assert.ok(maxAbsDiff(sample.subarray(5 * PLANE), masked) < 1e-6, 'channels 5–8 are the masked-image latents');
    }
    assert.ok(maxAbsDiff(row(f.sample, 0), row(f.sample, 1)) === 0, 'both halves of the guidance batch see the same sample');
  }
  // The repaint side of the masked image is grey, which the tiny VAE encodes to exactly 0.
  assert.equal(masked[LATENT - 1], 0);
  assert.notEqual(masked[0], 0);
});

test("regular UNet: each step sees the kept latents re-noised to its timestep; after the last they are the input's", async () => {
  const { pipe, dir } = await load();
  const decoded = recordDecoderInputs(pipe);
  const input = await inputPng();
  const x0 = (await encodeDirect(dir, rgbToChw(await rgbOf(input), SIZE, SIZE))).map((v) => v * K);

  // DDIM feeds the latents unscaled, so the kept half of step s's sample is x0 noised to t_s with the start noise.
  const feeds = recordFeeds(pipe);
  await pipe.generate({ ...base, initImage: input, mask: await rightMask(SIZE, SIZE, 32) });
  const ddim = createScheduler('ddim', pipe.model.schedulerConfig);
  ddim.setTimesteps(base.steps);
  const noise = new TorchGenerator(BigInt(base.seed)).randn(4 * PLANE);
  for (let s = 1; s < base.steps; s++) {
    const expected = ddim.addNoise(x0, noise, ddim.timesteps[s]);
    const sample = row(feeds[s].sample, 1);
    let off = 0;
    for (let i = 0; i < sample.length; i++) if (i % LATENT < 4) off = Math.max(off, Math.abs(sample[i] - expected[i]));
    assert.ok(off < 1e-5, `step ${s}: kept latents off by ${off}`);
  }

  for (const scheduler of ['ddim', 'euler', 'dpmpp_2m', 'pndm'] as const) {
    decoded.length = 0;
    await pipe.generate({ ...base, scheduler, initImage: input, mask: await rightMask(SIZE, SIZE, 32) });
    assert.equal(decoded.length, 1);
    const expected = await encodeDirect(dir, rgbToChw(await rgbOf(input), SIZE, SIZE));
    const final = decoded[0];
    let keptOff = 0;
    let maskedOff = 0;
    for (let i = 0; i < final.length; i++) {
      const off = Math.abs(final[i] - expected[i]);
      if (i % LATENT < 4) keptOff = Math.max(keptOff, off);
      else maskedOff = Math.max(maskedOff, off);
    }
    assert.ok(keptOff < 1e-5, `${scheduler}: kept latents off by ${keptOff}`);
    assert.ok(maskedOff > 0.1, `${scheduler}: masked latents were denoised (${maskedOff})`);
  }
});

test('regular UNet, strength 1, an all-white mask: the pixels of text-to-image for the same seed', async () => {
  const { pipe } = await load();
  const white = await rightMask(SIZE, SIZE, 0);
  for (const scheduler of ['ddim', 'euler_a'] as const) {
    const t2i = await rgbOf((await pipe.generate({ ...base, scheduler })).images[0].png);
    const inpainted = await rgbOf((await pipe.generate({ ...base, scheduler, initImage: await inputPng(), mask: white, strength: 1 })).images[0].png);
    assert.ok(t2i.equals(inpainted), `${scheduler}: diffusers' is_strength_max start is pure noise × init_noise_sigma`);
  }
});

test("generator draws in diffusers' order: input sample, noise, masked-input sample", async () => {
  const n = 4 * PLANE;
  // 9 channels, strength 1: no input encoding; noise first, then the masked input's ε.
  const nine = await load({ inpainting: true, vaeEncoderOutput: 'latent_parameters' });
  const feeds = recordFeeds(nine.pipe);
  await nine.pipe.generate({ ...base, count: 2, initImage: await inputPng(), mask: await rightMask(SIZE, SIZE, 32) });
  const first = feeds[0];
  const draws = [11, 12].map((seed) => {
    const g = new TorchGenerator(BigInt(seed));
    return [g.randn(n), g.randn(n)];
  });
  for (const i of [0, 1]) {
    assert.ok(maxAbsDiff(row(first.sample, i).subarray(0, n), draws[i][0]) < 1e-6, `image ${i} starts from its generator's first draw (DDIM: σ 1)`);
  }
  // mean is shared; mean + e^(logvar/2)·ε differs between images by the ε's only (tiny logvar = -10).
  const std = Math.exp(-5);
  const diff = row(first.sample, 0)
    .subarray(5 * PLANE)
    .map((v, k) => v - row(first.sample, 1)[5 * PLANE + k]);
  const expected = draws[0][1].map((e, k) => K * std * (e - draws[1][1][k]));
  assert.ok(maxAbsDiff(diff, expected) < 1e-6, "masked-input latents sample each image's second draw");

  // 4 channels: the input's ε comes first, then the noise.
  const four = await load({ vaeEncoderOutput: 'latent_parameters' });
  const feeds4 = recordFeeds(four.pipe);
  await four.pipe.generate({ ...base, initImage: await inputPng(), mask: await rightMask(SIZE, SIZE, 32) });
  const g = new TorchGenerator(11n);
  g.randn(n);
  assert.ok(maxAbsDiff(row(feeds4[0].sample, 0), g.randn(n)) < 1e-6, 'noise is the second draw');

  // …and the masked input's draw is still made (its VAE call is skipped), so later scheduler draws line up.
  const encoder = await ort.InferenceSession.create(join(four.dir, 'vae_encoder', 'model.onnx'));
  sessions.push(encoder);
  const generators = [new TorchGenerator(11n)];
  const schedulers = [createScheduler('euler_a', {})];
  schedulers[0].setTimesteps(5);
  const imageChw = rgbToChw(await prepareImage(await inputPng(), SIZE, SIZE), SIZE, SIZE);
  await prepareInpaint({
    unetChannels: 4,
    mask: await prepareMask(await rightMask(SIZE, SIZE, 32), { width: SIZE, height: SIZE }, SIZE, SIZE),
    imageChw,
    strength: 1,
    steps: 5,
    lh: LATENT,
    lw: LATENT,
    scalingFactor: K,
    generators,
    schedulers,
    encode: async (chw) => {
      const out = await encoder.run({ sample: new ort.Tensor('float32', chw, [1, 3, SIZE, SIZE]) });
      return { output: 'latent_parameters', data: out.latent_parameters.data as Float32Array };
    },
  });
  const reference = new TorchGenerator(11n);
  reference.randn(3 * n);
  assert.deepEqual(generators[0].randn(8), reference.randn(8));
});

test('image i of an inpainting batch is what seed + i alone gives', async () => {
  const { pipe } = await load({ inpainting: true, vaeEncoderOutput: 'latent_parameters' });
  const req = { ...base, initImage: await inputPng(), mask: await rightMask(SIZE, SIZE, 32) };
  const batch = await pipe.generate({ ...req, count: 2 });
  const single = await pipe.generate({ ...req, seed: 12 });
  const [a, b] = [await rgbOf(batch.images[1].png), await rgbOf(single.images[0].png)];
  assert.ok(maxAbsDiff(a, b) <= 1);
});

test('strength below 1 runs the tail of the timesteps; strength 0 returns the input', async () => {
  for (const inpainting of [false, true]) {
    const { pipe } = await load({ inpainting });
    const req = { ...base, steps: 10, initImage: await inputPng(), mask: await rightMask(SIZE, SIZE, 32) };
    pipe.resetStats();
    await pipe.generate({ ...req, strength: 0.45 });
    assert.equal(pipe.runStats.unetCalls, 4, 'int(10 × 0.45) = 4 steps');
    pipe.resetStats();
    const same = await pipe.generate({ ...req, strength: 0 });
    assert.equal(pipe.runStats.unetCalls, 0);
    assert.ok((await rgbOf(same.images[0].png)).equals(await rgbOf(await inputPng())));
  }
});

test('an inpainting UNet also does text-to-image and image-to-image (everything masked, grey picture)', async () => {
  const { pipe } = await load({ inpainting: true });
  const feeds = recordFeeds(pipe);
  const r = await pipe.generate({ ...base, steps: 2 });
  assert.equal(r.images.length, 1);
  const sample = row(feeds[0].sample, 0);
  assert.ok(
    sample.subarray(4 * PLANE, 5 * PLANE).every((v) => v === 1),
    'mask all white',
  );
  assert.ok(
    sample.subarray(5 * PLANE).every((v) => v === 0),
    'grey picture latents',
  );
  feeds.length = 0;
  pipe.resetStats();
  await pipe.generate({ ...base, steps: 4, initImage: await inputPng(), strength: 0.5 });
  assert.equal(pipe.runStats.unetCalls, 2);
  assert.equal(feeds[0].sample.dims[1], 9);
});

test('a mask needs an input image; a mask of another size is resized onto it', async () => {
  const { pipe } = await load();
  await assert.rejects(
    pipe.generate({ ...base, mask: await rightMask(SIZE, SIZE, 32) }),
    (e: Error) => e instanceof InputError && /mask needs the image it masks/.test(e.message),
  );
  await assert.rejects(
    pipe.generate({ ...base, initImage: await inputPng(), mask: await rightMask(SIZE, SIZE, 32), maskBlur: 500 }),
    (e: Error) => e instanceof InputError && /mask blur must be at most 64/.test(e.message),
  );
  await assert.rejects(
    pipe.generate({ ...base, initImage: await inputPng(), maskInvert: true }),
    (e: Error) => e instanceof InputError && /mask invert only applies to inpainting/.test(e.message),
  );
  // 20 × 10 mask, white from x = 10: the right half of the 64 × 64 input.
  const r = await pipe.generate({ ...base, initImage: await inputPng(), mask: await rightMask(20, 10, 10) });
  const out = await rgbOf(r.images[0].png);
  const inputRgb = await rgbOf(await inputPng());
  assert.ok(out.subarray(0, 30 * 3).equals(inputRgb.subarray(0, 30 * 3)), 'left of the stretched mask is kept');
  assert.ok(!out.subarray(34 * 3, SIZE * 3).equals(inputRgb.subarray(34 * 3, SIZE * 3)), 'right of it is repainted');
});

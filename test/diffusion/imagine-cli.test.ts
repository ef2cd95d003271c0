import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readTextChunks } from '../../src/diffusion/png.js';
import { tinyModel } from '../support/tiny-models.js';
import { isolated, entryArgs } from '../support/child-process.js';
import { createTinyUpscaler } from '../../src/models/tiny/upscaler.js';

function imagine(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, entryArgs('src/cli/imagine.ts', ...args), {
    encoding: 'utf8',
    ...isolated({ LOG_LEVEL: 'warn', ...env }),
    timeout: 60_000,
  });
}

test('npm run imagine writes the PNG(s) and reports seed and step time', async () => {
  const model = await tinyModel();
  const out = join(mkdtempSync(join(tmpdir(), 'cli-')), 'cat.png');
  const r = imagine([
    'a photo of a cat',
    '--model',
    model,
    '--steps',
    '3',
    '--seed',
    '7',
    '--size',
    '64x96',
    '--scheduler',
    'euler_a',
    '--count',
    '2',
    '--out',
    out,
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /seed 7 → .*cat-1\.png/);
  assert.match(r.stdout, /seed 8 → .*cat-2\.png/);
  assert.match(r.stdout, /ms per step/);
  const png = readFileSync(out.replace('cat.png', 'cat-1.png'));
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 96]);
  assert.match(readTextChunks(png).parameters, /Seed: 7, Size: 64x96/);
});

test('--seed -1 is a random seed, as in A1111', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'cli-')), 'r.png');
  const r = imagine(['a cat', '--model', await tinyModel(), '--steps', '1', '--size', '64x64', '--seed', '-1', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /seed \d+ → /);
  assert.doesNotMatch(readTextChunks(readFileSync(out)).parameters, /Seed: -1/);
});

test('bad input: one clear line, exit 1, no stack trace, no output file', async () => {
  const model = await tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const out = join(dir, 'x.png');
  for (const [args, message] of [
    [['a cat', '--model', model, '--size', '100x100', '--out', out], /width must be a multiple of 8/],
    [['a cat', '--model', model, '--steps', '-2', '--out', out], /--steps must be at least 1/],
    [['a cat', '--model', model, '--seed', '-5', '--out', out], /--seed must be 0 or more \(-1: random\)/],
    [['   ', '--model', model, '--out', out], /a prompt is required \(it is empty or only spaces\)/],
    [['a cat', '--model', model, '--image', join(dir, 'missing.png'), '--out', out], /--image: no such file: .*missing\.png/],
    [['a cat', '--model', model, '--out', join(dir, 'no-such-folder', 'x.png')], /--out: the folder .*no-such-folder does not exist/],
    [['a cat', '--model', join(dir, 'missing'), '--out', out], /does not exist/],
    [['a cat', '--model', model, '--scheduler', 'warp', '--out', out], /scheduler/],
  ] as const) {
    const r = imagine([...args]);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  }
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir), []);
});

test('--upscale 2|4: Lanczos without an upscaler, the --upscaler model when given; --hires redraws at 2×', async () => {
  const model = await tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'cli-up-'));
  const env = { MODELS_DIR: join(dir, 'no-models') }; // no installed upscaler: Lanczos
  const size = async (path: string) => {
    const m = await sharp(readFileSync(path)).metadata();
    return [m.width, m.height];
  };
  const common = ['a photo of a cat', '--model', model, '--steps', '2', '--seed', '3', '--size', '64x72'];

  const lanczos = join(dir, 'lanczos.png');
  let r = imagine([...common, '--upscale', '2', '--out', lanczos], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /upscaled 2× with Lanczos/);
  assert.deepEqual(await size(lanczos), [128, 144]);
  assert.match(readTextChunks(readFileSync(lanczos)).parameters, /Seed: 3, Size: 64x72.*Postprocess upscale by: 2, Postprocess upscaler: Lanczos/);

  const upscaler = join(dir, 'tiny-x2');
  await createTinyUpscaler(upscaler, { scale: 2 });
  const withModel = join(dir, 'model.png');
  r = imagine([...common, '--upscale', '4', '--upscaler', upscaler, '--out', withModel], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /upscaled 4× with tiny-x2/);
  assert.deepEqual(await size(withModel), [256, 288]);

  const hires = join(dir, 'hires.png');
  r = imagine([...common, '--hires', '--out', hires], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /hires fix/);
  assert.deepEqual(await size(hires), [128, 144]);
  // As A1111 records it: the first pass (2 steps at 64×72), then the hires pass; --steps 2 sets
  // the hires schedule too, raised to 4 so strength 0.3 redraws one step.
  assert.match(
    readTextChunks(readFileSync(hires)).parameters,
    /Steps: 2, .*Size: 64x72, .*Denoising strength: 0\.3, Hires upscale: 2, Hires steps: 4, Hires upscaler: Lanczos$/,
  );

  r = imagine([...common, '--upscale', '3', '--out', join(dir, 'bad.png')], env);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--upscale must be 2 or 4/);
});

test('--image/--strength/--mask/--mask-blur/--inpaint-area: image-to-image and inpainting from files', async () => {
  const model = await tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'cli-inpaint-'));
  // A 90 × 60 input and a smaller mask (right half white). Without --size the output keeps the
  // input's aspect at about the model's area, in multiples of 64.
  const input = join(dir, 'in.jpg');
  await sharp({ create: { width: 90, height: 60, channels: 3, background: '#4a7bd0' } })
    .jpeg()
    .toFile(input);
  const maskFile = join(dir, 'mask.png');
  await sharp({ create: { width: 30, height: 20, channels: 3, background: '#000' } })
    .composite([{ input: { create: { width: 15, height: 20, channels: 3, background: '#fff' } }, left: 15, top: 0 }])
    .png()
    .toFile(maskFile);

  const img2img = join(dir, 'img2img.png');
  let r = imagine(['a lake', '--model', model, '--steps', '4', '--seed', '1', '--image', input, '--strength', '0.5', '--out', img2img]);
  assert.equal(r.status, 0, r.stderr);
  const meta = await sharp(readFileSync(img2img)).metadata();
  // 90 × 60 at about 256 × 256 (the tiny model's default) is 314 × 209: 320 × 192 in multiples of 64.
  assert.deepEqual([meta.width, meta.height], [320, 192]);
  assert.match(readTextChunks(readFileSync(img2img)).parameters, /Denoising strength: 0\.5/);

  const inpainted = join(dir, 'inpainted.png');
  r = imagine([
    'a boat',
    '--model',
    model,
    '--steps',
    '3',
    '--seed',
    '1',
    '--size',
    '96x64',
    '--image',
    input,
    '--mask',
    maskFile,
    '--mask-blur',
    '2',
    '--out',
    inpainted,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const { data } = await sharp(readFileSync(inpainted)).raw().toBuffer({ resolveWithObject: true });
  const kept = await sharp(input).resize(96, 64, { fit: 'cover' }).raw().toBuffer();
  assert.ok(data.subarray(0, 30 * 3).equals(kept.subarray(0, 30 * 3)), 'left of the mask is the input');
  assert.match(readTextChunks(readFileSync(inpainted)).parameters, /Denoising strength: 1\b/, 'inpainting defaults to strength 1');

  const onlyMasked = join(dir, 'only-masked.png');
  const common = ['--model', model, '--steps', '3', '--seed', '1', '--size', '96x64', '--image', input];
  r = imagine(['a boat', ...common, '--mask', maskFile, '--inpaint-area', 'masked', '--inpaint-padding', '8', '--out', onlyMasked]);
  assert.equal(r.status, 0, r.stderr);
  const masked = await sharp(readFileSync(onlyMasked)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([masked.info.width, masked.info.height], [96, 64]);
  assert.ok(masked.data.subarray(0, 30 * 3).equals(kept.subarray(0, 30 * 3)), 'only masked: left of the mask is the input');
  assert.match(readTextChunks(readFileSync(onlyMasked)).parameters, /Inpaint area: Only masked, Masked area padding: 8/);

  r = imagine(['a boat', '--model', model, '--mask', maskFile, '--out', join(dir, 'bad.png')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--mask needs --image/);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
  r = imagine(['a boat', ...common, '--inpaint-area', 'masked', '--out', join(dir, 'bad.png')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--inpaint-area masked needs --mask/);
  r = imagine(['a boat', ...common, '--mask', maskFile, '--inpaint-padding', '8', '--out', join(dir, 'bad.png')]);
  assert.match(r.stderr, /--inpaint-padding needs --inpaint-area masked/);
  r = imagine(['a boat', ...common, '--mask', maskFile, '--inpaint-area', 'masked', '--inpaint-padding', '300', '--out', join(dir, 'bad.png')]);
  assert.match(r.stderr, /--inpaint-padding must be 0 to 256/);
  r = imagine(['a boat', ...common, '--mask', maskFile, '--inpaint-area', 'some', '--out', join(dir, 'bad.png')]);
  assert.match(r.stderr, /--inpaint-area must be whole or masked/);

  // --mask-fill: what the masked part starts from (A1111's inpainting_fill).
  const filled = join(dir, 'filled.png');
  r = imagine(['a boat', ...common, '--mask', maskFile, '--mask-fill', 'fill', '--strength', '0.6', '--out', filled]);
  assert.equal(r.status, 0, r.stderr);
  const fillData = await sharp(readFileSync(filled)).raw().toBuffer();
  assert.ok(fillData.subarray(0, 30 * 3).equals(kept.subarray(0, 30 * 3)), 'fill: left of the mask is the input');
  r = imagine(['a boat', ...common, '--mask-fill', 'fill', '--out', join(dir, 'bad.png')]);
  assert.match(r.stderr, /--mask-fill needs --mask/);
  r = imagine(['a boat', ...common, '--mask', maskFile, '--mask-fill', 'blur', '--out', join(dir, 'bad.png')]);
  assert.match(r.stderr, /--mask-fill must be one of fill, original, latent_noise, latent_nothing/);
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImagineOptions, SEED_MAX, type RawImagineOptions } from '../../src/bot/imagine-options.js';
import { ModelCatalog } from '../../src/bot/model-catalog.js';
import { parseWxH, presetSize } from '../../src/jobs/sizes.js';
import type { GuildLimits } from '../../src/bot/limits.js';
import { tinyModel } from '../support/tiny-models.js';

const limits: GuildLimits = { maxSteps: 50, maxSide: 1024, maxCount: 4, maxGuidance: 20 };
let catalog: ModelCatalog;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bot-models-'));
  symlinkSync(await tinyModel(), join(dir, 'tiny'));
  mkdirSync(join(dir, 'broken'));
  writeFileSync(join(dir, 'broken', 'model_index.json'), '{}');
  mkdirSync(join(dir, 'not-a-model'));
  catalog = new ModelCatalog(dir);
});

function parse(raw: RawImagineOptions) {
  return parseImagineOptions(raw, limits, catalog);
}

test('size presets keep the model’s area in multiples of 64', () => {
  assert.deepEqual(presetSize('square', 512), { width: 512, height: 512 });
  assert.deepEqual(presetSize('portrait', 512), { width: 448, height: 640 });
  assert.deepEqual(presetSize('landscape', 512), { width: 640, height: 448 });
  assert.deepEqual(presetSize('wide', 512), { width: 704, height: 384 });
  assert.deepEqual(presetSize('square', 768), { width: 768, height: 768 });
  assert.deepEqual(parseWxH(' 512 × 768 '), { width: 512, height: 768 });
  assert.equal(parseWxH('512'), undefined);
});

test('the catalog lists usable models only', () => {
  assert.deepEqual(
    catalog.list().map((m) => m.name),
    ['tiny'],
  );
  const lookup = catalog.lookup('broken');
  assert.ok(!lookup.ok && /cannot be used/.test(lookup.message));
});

test('defaults come from the model, capped by the guild; the seed is random', () => {
  const r = parse({ prompt: '  a fox  ' });
  assert.ok(r.ok);
  const req = r.params.request;
  assert.equal(req.prompt, 'a fox');
  assert.equal(r.params.model.name, 'tiny');
  assert.deepEqual([req.width, req.height], [256, 256]); // the tiny model's native size
  assert.equal(req.steps, 30);
  assert.equal(req.guidanceScale, 7.5);
  assert.equal(req.count, 1);
  assert.ok(Number.isInteger(req.seed) && req.seed >= 0 && req.seed <= SEED_MAX);
  assert.equal(req.strength, undefined);
});

test('given options are used as given', () => {
  const r = parse({ prompt: 'x', negative: 'blur', seed: 42, steps: 12, guidance: 3, size: '128x192', count: 4, model: 'tiny', scheduler: 'euler_a' });
  assert.ok(r.ok);
  assert.deepEqual(r.params.request, {
    prompt: 'x',
    negativePrompt: 'blur',
    seed: 42,
    steps: 12,
    guidanceScale: 3,
    width: 128,
    height: 192,
    count: 4,
    scheduler: 'euler_a',
  });
  const wide = parse({ prompt: 'x', size: 'wide' });
  assert.ok(wide.ok);
  assert.deepEqual([wide.params.request.width, wide.params.request.height], [320, 192]);
});

test('every bad option is listed with what is allowed', () => {
  const r = parse({ prompt: 'x', steps: 80, guidance: 25, size: '100x100', count: 6 });
  assert.ok(!r.ok);
  assert.match(r.message, /\*\*steps\*\* must be between 1 and 50 on this server/);
  assert.match(r.message, /\*\*guidance\*\* must be between 0 and 20 on this server/);
  assert.match(r.message, /\*\*count\*\* must be between 1 and 4 on this server/);
  assert.match(
    r.message,
    /\*\*size\*\* 100x100 is not allowed here; use square, portrait, landscape, wide, or WxH with sides that are multiples of 64 from 64 to 1024/,
  );
  const big = parse({ prompt: 'x', size: '2048x2048' });
  assert.ok(!big.ok && /2048x2048 is not allowed/.test(big.message));
  const blank = parse({ prompt: '   ' });
  assert.ok(!blank.ok && /\*\*prompt\*\* must not be empty/.test(blank.message));
});

test('image-to-image options are checked together', () => {
  const image = { url: 'http://x/in.png', name: 'in.png', contentType: 'image/png', size: 1000 };
  const ok = parse({ prompt: 'x', image });
  assert.ok(ok.ok);
  assert.equal(ok.params.request.strength, 0.75);
  assert.equal(ok.params.image?.url, image.url);
  const lonely = parse({ prompt: 'x', strength: 0.5 });
  assert.ok(!lonely.ok && /\*\*strength\*\* only applies together with an image/.test(lonely.message));
  const gif = parse({ prompt: 'x', image: { ...image, contentType: 'image/gif' } });
  assert.ok(!gif.ok && /must be a PNG, JPEG or WebP image/.test(gif.message));
  const huge = parse({ prompt: 'x', image: { ...image, size: 50 * 1024 * 1024 } });
  assert.ok(!huge.ok && /at most 20 MiB/.test(huge.message));
});

test('inpainting options: the engine’s defaults stay implicit, only masked stores its padding, misuse is refused', () => {
  const image = { url: 'http://x/in.png', name: 'in.png', contentType: 'image/png', size: 1000 };
  const mask = { ...image, url: 'http://x/mask.png', name: 'mask.png' };
  const plain = parse({ prompt: 'x', image, mask });
  assert.ok(plain.ok);
  assert.equal(plain.params.request.inpaintingFill, undefined, 'original, the engine’s default');
  assert.equal(plain.params.request.inpaintArea, undefined);
  const original = parse({ prompt: 'x', image, mask, mask_content: 'original', inpaint_area: 'whole' });
  assert.ok(original.ok);
  assert.equal(original.params.request.inpaintingFill, undefined);
  assert.equal(original.params.request.inpaintArea, undefined);
  const masked = parse({ prompt: 'x', image, mask, mask_content: 'latent_nothing', inpaint_area: 'masked' });
  assert.ok(masked.ok);
  assert.equal(masked.params.request.inpaintingFill, 'latent_nothing');
  assert.equal(masked.params.request.inpaintArea, 'masked');
  assert.equal(masked.params.request.inpaintPadding, 32, 'A1111’s default padding, stored');
  const padded = parse({ prompt: 'x', image, mask, inpaint_area: 'masked', mask_padding: 0 });
  assert.ok(padded.ok);
  assert.equal(padded.params.request.inpaintPadding, 0);

  const noMask = parse({ prompt: 'x', image, mask_content: 'fill', inpaint_area: 'masked', mask_padding: 8 });
  assert.ok(!noMask.ok);
  assert.match(noMask.message, /\*\*mask_content\*\* only applies to inpainting/);
  assert.match(noMask.message, /\*\*inpaint_area\*\* only applies to inpainting/);
  const whole = parse({ prompt: 'x', image, mask, inpaint_area: 'whole', mask_padding: 8 });
  assert.ok(!whole.ok && /\*\*mask_padding\*\* only applies with inpaint_area: only masked/.test(whole.message));
  const wide = parse({ prompt: 'x', image, mask, inpaint_area: 'masked', mask_padding: 300 });
  assert.ok(!wide.ok && /\*\*mask_padding\*\* must be between 0 and 256 pixels/.test(wide.message));
  const odd = parse({ prompt: 'x', image, mask, mask_content: 'blur' });
  assert.ok(!odd.ok && /\*\*mask_content\*\* must be one of fill, original, latent noise, latent nothing/.test(odd.message));
});

test('an unknown model names the ones available', () => {
  const r = parse({ prompt: 'x', model: 'sdxl' });
  assert.ok(!r.ok);
  assert.equal(r.message, 'Model "sdxl" is not installed. Available: tiny.');
  const traversal = parse({ prompt: 'x', model: '../etc' });
  assert.ok(!traversal.ok && /not installed/.test(traversal.message));
  const empty = new ModelCatalog(join(tmpdir(), 'no-such-models-dir'));
  const none = parseImagineOptions({ prompt: 'x' }, limits, empty);
  assert.ok(!none.ok && /No model is installed yet/.test(none.message));
});

test("a server's step, guidance and scheduler defaults do not apply to turbo and LCM models", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bot-models-'));
  symlinkSync(await tinyModel(), join(dir, 'tiny'));
  symlinkSync(await tinyModel(), join(dir, 'tiny-turbo'));
  const turboCatalog = new ModelCatalog(dir);
  const withDefaults: GuildLimits = { ...limits, defaults: { steps: 30, guidance: 7, scheduler: 'ddim', negativePrompt: 'blurry' } };
  const run = (model: string) => {
    const r = parseImagineOptions({ prompt: 'x', model }, withDefaults, turboCatalog);
    assert.ok(r.ok, r.ok ? '' : r.message);
    return r.params;
  };
  const turbo = run('tiny-turbo');
  assert.equal(turbo.model.family, 'sd-turbo');
  assert.deepEqual(
    [turbo.request.steps, turbo.request.guidanceScale, turbo.request.scheduler, turbo.request.negativePrompt],
    [turbo.model.defaults.steps, turbo.model.defaults.guidanceScale, undefined, 'blurry'],
  );
  const plain = run('tiny');
  assert.deepEqual([plain.request.steps, plain.request.guidanceScale, plain.request.scheduler], [30, 7, 'ddim']);
});

test('an SD3 model takes LoRAs (prompt tags and the lora option)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bot-sd3-models-'));
  symlinkSync(await tinyModel({ layout: 'sd3', t5: false }, 'sd3-no-t5'), join(dir, 'sd3'));
  mkdirSync(join(dir, 'loras'));
  writeFileSync(join(dir, 'loras', 'style.safetensors'), '');
  const sd3Catalog = new ModelCatalog(dir);
  const parse = (raw: RawImagineOptions) => parseImagineOptions(raw, limits, sd3Catalog);
  const tagged = parse({ prompt: 'a house <lora:style:0.7>', model: 'sd3' });
  assert.ok(tagged.ok, tagged.ok ? '' : tagged.message);
  assert.deepEqual(
    tagged.params.request.loras?.map((l) => [l.name, l.weight]),
    [['style', 0.7]],
  );
  const option = parse({ prompt: 'a house', model: 'sd3', lora: 'style', loraWeight: 0.5 });
  assert.ok(option.ok, option.ok ? '' : option.message);
});

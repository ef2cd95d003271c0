// Inpainting masks through the real API process on the tiny inpainting model: A1111's img2img
// `mask` (white repaints) and `inpainting_mask_invert`, OpenAI's edits `mask` (alpha 0 is
// edited) through the official client, the seed door's `mask_image`, and the refusals, each
// in its door's error shape. "Kept" is measured against the input: the kept side must match it
// far better than the repainted side.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { tinyModel } from '../support/tiny-models.js';
import { type ApiProcess, createKey, getJson, postJson, startApi, tempDataDir } from './support.js';
import { readTextChunks } from '../../src/diffusion/png.js';
import { gradientPng } from '../support/images.js';

const SIZE = 64;
const HALF = SIZE / 2;

const inputPng = () => gradientPng(SIZE);

/** White (repaint) on the right half, black on the left. */
async function rightHalfMask(width = SIZE): Promise<Buffer> {
  const raw = Buffer.alloc(width * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = width / 2; x < width; x++) raw[y * width + x] = 255;
  return sharp(raw, { raw: { width, height: SIZE, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** OpenAI's mask: an RGBA PNG, transparent (alpha 0, edit) on the right half, opaque elsewhere. */
async function alphaMask(width = SIZE): Promise<Buffer> {
  const raw = Buffer.alloc(width * SIZE * 4, 255);
  for (let y = 0; y < SIZE; y++) for (let x = width / 2; x < width; x++) raw[(y * width + x) * 4 + 3] = 0;
  return sharp(raw, { raw: { width, height: SIZE, channels: 4 } })
    .png()
    .toBuffer();
}

/** The PNG with its header claiming another size (a decompression bomb's first bytes): IHDR rewritten, CRC fixed. */
async function declaredSize(png: Buffer, width: number, height: number): Promise<Buffer> {
  const out = Buffer.from(png);
  // Signature (8), IHDR length (4) and type (4), then width and height; the CRC covers type and data.
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

/** Mean absolute difference per channel between two images' columns [from, to), 0–255. */
async function diff(a: Buffer, b: Buffer, from: number, to: number): Promise<number> {
  const [ra, rb] = await Promise.all([a, b].map((p) => sharp(p).removeAlpha().raw().toBuffer()));
  let sum = 0;
  let count = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = from; x < to; x++) {
      for (let c = 0; c < 3; c++) sum += Math.abs(ra[(y * SIZE + x) * 3 + c] - rb[(y * SIZE + x) * 3 + c]);
      count += 3;
    }
  }
  return sum / count;
}

/** Kept and repainted sides (16 px from the edge, beyond the feathering of the default blur). */
async function sides(out: Buffer, input: Buffer): Promise<{ left: number; right: number }> {
  return { left: await diff(out, input, 0, HALF - 16), right: await diff(out, input, HALF + 16, SIZE) };
}

function assertKept(kept: number, repainted: number, what: string): void {
  assert.ok(kept < 1, `${what}: the kept side is the input's (mean difference ${kept})`);
  assert.ok(repainted > 10 && repainted > 20 * kept, `${what}: the masked side is repainted (mean difference ${repainted}, kept ${kept})`);
}

/** White (repaint) in a 16 × 16 box at 40..56 × 8..24, black elsewhere. */
async function boxMask(): Promise<Buffer> {
  const raw = Buffer.alloc(SIZE * SIZE);
  for (let y = 8; y < 24; y++) for (let x = 40; x < 56; x++) raw[y * SIZE + x] = 255;
  return sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** Only masked with boxMask(): every pixel outside the box is the input's, the box is repainted. */
async function assertOnlyBoxRepainted(out: Buffer, input: Buffer): Promise<void> {
  const [o, i] = await Promise.all([out, input].map((p) => sharp(p).removeAlpha().raw().toBuffer({ resolveWithObject: true })));
  assert.deepEqual([o.info.width, o.info.height], [SIZE, SIZE]);
  let repainted = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inBox = x >= 40 && x < 56 && y >= 8 && y < 24;
      for (let c = 0; c < 3; c++) {
        const k = (y * SIZE + x) * 3 + c;
        if (inBox) repainted += Math.abs(o.data[k] - i.data[k]);
        else assert.equal(o.data[k], i.data[k], `kept pixel ${x},${y}`);
      }
    }
  }
  assert.ok(repainted / (16 * 16 * 3) > 5, `the box is repainted (mean difference ${repainted / (16 * 16 * 3)})`);
}

describe('inpainting masks through the HTTP API', () => {
  let api: ApiProcess;
  let key: string;
  let dataDir: string;
  let input: Buffer;

  before(async () => {
    const modelsDir = mkdtempSync(join(tmpdir(), 'api-models-'));
    process.on('exit', () => rmSync(modelsDir, { recursive: true, force: true }));
    symlinkSync(await tinyModel({ inpainting: true }, 'inpaint'), join(modelsDir, 'inpaint'));
    dataDir = tempDataDir();
    key = createKey(dataDir, 'mask-client');
    api = await startApi({}, { dataDir, modelsDir });
    input = await inputPng();
  });
  after(() => api?.stop());

  const img2img = (extra: Record<string, unknown>) =>
    postJson(
      `${api.url}/sdapi/v1/img2img`,
      { prompt: 'a red balloon', steps: 3, width: SIZE, height: SIZE, seed: 5, init_images: [input.toString('base64')], ...extra },
      key,
    );

  test('A1111 img2img with a mask repaints the white side and keeps the black one; invert swaps them', async () => {
    const mask = (await rightHalfMask()).toString('base64');
    const r = await img2img({ mask: `data:image/png;base64,${mask}`, denoising_strength: 1, inpainting_fill: 1, inpaint_full_res: 0 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.parameters.mask, undefined, 'the mask is not echoed back');
    const out = Buffer.from(r.json.images[0], 'base64');
    const plain = await sides(out, input);
    assertKept(plain.left, plain.right, 'mask');

    const inverted = await img2img({ mask, denoising_strength: 1, inpainting_mask_invert: 1, mask_blur: 0 });
    assert.equal(inverted.status, 200, JSON.stringify(inverted.json));
    const flipped = await sides(Buffer.from(inverted.json.images[0], 'base64'), input);
    assertKept(flipped.right, flipped.left, 'inverted mask');
  });

  test('A1111 inpaint_full_res (only masked): the box around the mask is repainted, the rest is the input, the infotext says so', async () => {
    const mask = (await boxMask()).toString('base64');
    const r = await img2img({ mask, denoising_strength: 1, mask_blur: 0, inpaint_full_res: true, inpaint_full_res_padding: 8 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await assertOnlyBoxRepainted(Buffer.from(r.json.images[0], 'base64'), input);
    const info = JSON.parse(r.json.info);
    assert.match(info.infotexts[0], /, Inpaint area: Only masked, Masked area padding: 8(,|$)/m);
  });

  test('A1111 inpainting_fill: fill, original, latent noise and latent nothing start the masked side differently and keep the rest', async () => {
    const mask = (await rightHalfMask()).toString('base64');
    const repainted: Buffer[] = [];
    for (const fill of [0, 1, 2, 3]) {
      const r = await img2img({ mask, inpainting_fill: fill, denoising_strength: 0.6 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const out = Buffer.from(r.json.images[0], 'base64');
      const s = await sides(out, input);
      assert.ok(s.left < 1, `inpainting_fill ${fill}: the kept side is the input's (${s.left})`);
      repainted.push(
        await sharp(out)
          .extract({ left: HALF + 16, top: 0, width: SIZE - HALF - 16, height: SIZE })
          .raw()
          .toBuffer(),
      );
    }
    for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) assert.ok(!repainted[a].equals(repainted[b]), `fills ${a} and ${b} start alike`);
  });

  test('A1111 refusals: bad base64, a fill out of range, a padding or blur out of range', async () => {
    const mask = (await rightHalfMask()).toString('base64');
    const bad = await img2img({ mask: 'not base64 at all!' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.detail, /^mask is not base64/);
    const notImage = await img2img({ mask: Buffer.from('GIF89a fake').toString('base64') });
    assert.equal(notImage.status, 400);
    assert.match(notImage.json.detail, /^mask is not a PNG, JPEG or WebP image/);
    const fill = await img2img({ mask, inpainting_fill: 4 });
    assert.equal(fill.status, 422, 'inpainting_fill is 0–3');
    const padding = await img2img({ mask, inpaint_full_res: true, inpaint_full_res_padding: 300 });
    assert.equal(padding.status, 422);
    assert.match(JSON.stringify(padding.json), /inpaint_full_res_padding must be a whole number of pixels from 0 to 256/);
    const paddingType = await img2img({ mask, inpaint_full_res: 1, inpaint_full_res_padding: 'wide' });
    assert.equal(paddingType.status, 422);
    assert.deepEqual(paddingType.json.detail[0].loc, ['body', 'inpaint_full_res_padding']);
    const blur = await img2img({ mask, mask_blur: 100 });
    assert.equal(blur.status, 422);
    assert.match(JSON.stringify(blur.json), /mask_blur must be between 0 and 64/);
    const wrongType = await img2img({ mask, inpainting_mask_invert: 'yes' });
    assert.equal(wrongType.status, 422);
    assert.deepEqual(wrongType.json.detail[0].loc, ['body', 'inpainting_mask_invert']);
    // Without a mask, the inpainting fields mean nothing and are ignored, as in A1111.
    const noMask = await img2img({ inpainting_fill: 0, inpaint_full_res: 1, steps: 1 });
    assert.equal(noMask.status, 200, JSON.stringify(noMask.json));
  });

  test('OpenAI edits: the transparent side of the mask is edited, the opaque side kept', async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${api.url}/v1`, maxRetries: 0 });
    const r = await client.images.edit({
      image: await toFile(input, 'input.png', { type: 'image/png' }),
      mask: await toFile(await alphaMask(), 'mask.png', { type: 'image/png' }),
      prompt: 'a red balloon',
      size: '64x64',
    });
    const out = Buffer.from(r.data![0].b64_json!, 'base64');
    const s = await sides(out, input);
    assertKept(s.left, s.right, 'alpha mask');

    const refused = async (mask: Buffer, message: RegExp) => {
      await assert.rejects(
        client.images.edit({ image: await toFile(input, 'input.png', { type: 'image/png' }), mask: await toFile(mask, 'mask.png'), prompt: 'x' }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError, String(err));
          assert.match(err.message, message);
          assert.equal(err.param, 'mask');
          assert.equal(err.type, 'invalid_request_error');
          return true;
        },
      );
    };
    await refused(await rightHalfMask(), /mask has no alpha channel/);
    await refused(await alphaMask(SIZE * 2), /mask is 128×64 but image is 64×64: they must be the same size/);
    await refused(Buffer.from('not an image'), /mask is not a PNG, JPEG or WebP image/);
    await refused(await declaredSize(await alphaMask(), 20_000, 20_000), /mask is 20000×20000: at most 8192×8192 pixels are read/);
  });

  test("OpenAI edits without a mask: the image's own transparent pixels are edited (DALL·E 2), an opaque image is redrawn whole", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${api.url}/v1`, maxRetries: 0 });
    // The input with an alpha channel: opaque on the left half, fully transparent on the right.
    const rgba = await sharp(input).ensureAlpha(1).raw().toBuffer();
    for (let y = 0; y < SIZE; y++) for (let x = HALF; x < SIZE; x++) rgba[(y * SIZE + x) * 4 + 3] = 0;
    const holed = await sharp(rgba, { raw: { width: SIZE, height: SIZE, channels: 4 } })
      .png()
      .toBuffer();
    const edit = async (image: Buffer) => {
      const r = await client.images.edit({ image: await toFile(image, 'input.png', { type: 'image/png' }), prompt: 'a red balloon', size: '64x64' });
      return Buffer.from(r.data![0].b64_json!, 'base64');
    };
    const s = await sides(await edit(holed), input);
    assertKept(s.left, s.right, 'image transparency');
    // Opaque everywhere (an alpha channel of 255s, and none at all): the whole image is redrawn.
    const opaqueAlpha = await sharp(input).ensureAlpha(1).png().toBuffer();
    for (const [what, image] of [
      ['opaque alpha', opaqueAlpha],
      ['no alpha', input],
    ] as const) {
      const whole = await sides(await edit(image), input);
      assert.ok(whole.left > 5 && whole.right > 5, `${what}: both sides redrawn (${whole.left}, ${whole.right})`);
    }
  });

  /** A seed-door inpainting of the input through `mask`, 3 steps at SIZE². */
  const seedBody = (mask: Buffer) => ({
    prompt: 'a red balloon',
    num_inference_steps: 3,
    width: SIZE,
    height: SIZE,
    seed: 5,
    init_image: input.toString('base64'),
    mask_image: mask.toString('base64'),
  });

  test('seed door: mask_image inpaints init_image and is stored beside it; a mask without an image is refused', async () => {
    const body = seedBody(await rightHalfMask());
    const r = await postJson(`${api.url}/generate`, body, key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.parameters.strength, 1, 'a masked region is drawn anew by default');
    assert.equal(r.json.parameters.mask_blur, 0);
    assert.equal(r.json.parameters.mask_invert, false);
    const s = await sides(Buffer.from(r.json.images[0], 'base64'), input);
    assertKept(s.left, s.right, 'mask_image');
    assert.ok(existsSync(join(dataDir, 'inputs', `${r.json.id}.mask.png`)), 'the mask is stored like the input image');

    const { init_image: _i, ...noImage } = body;
    const alone = await postJson(`${api.url}/generate`, noImage, key);
    assert.equal(alone.status, 422);
    assert.equal(alone.json.error.param, 'mask_image');
    assert.match(alone.json.error.message, /mask_image needs the image it masks/);
    const badBlur = await postJson(`${api.url}/generate`, { ...body, mask_blur: -1 }, key);
    assert.equal(badBlur.status, 422);
    assert.equal(badBlur.json.error.param, 'mask_blur');
  });

  test('seed door: mask_content, inpaint_area masked and mask_padding inpaint only the box; shown in parameters; misuse is a 422 naming the field', async () => {
    const body = seedBody(await boxMask());
    const r = await postJson(`${api.url}/generate`, { ...body, mask_content: 'latent_noise', inpaint_area: 'masked', mask_padding: 8 }, key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual([r.json.parameters.mask_content, r.json.parameters.inpaint_area, r.json.parameters.mask_padding], ['latent_noise', 'masked', 8]);
    const png = Buffer.from(r.json.images[0], 'base64');
    assert.match(readTextChunks(png).parameters, /, Inpaint area: Only masked, Masked area padding: 8(,|$)/m);
    await assertOnlyBoxRepainted(png, input);
    // Defaults: original, the whole picture; only masked's padding is the engine's 32.
    const plain = await postJson(`${api.url}/jobs`, body, key);
    assert.equal(plain.status, 202, JSON.stringify(plain.json));
    const view = await getJson(`${api.url}/jobs/${plain.json.id}`, key);
    assert.equal(view.json.parameters.mask_content, 'original');
    assert.equal(view.json.parameters.inpaint_area, 'whole');
    assert.equal(view.json.parameters.mask_padding, undefined);
    const defaultPadding = await postJson(`${api.url}/jobs`, { ...body, inpaint_area: 'masked' }, key);
    assert.equal((await getJson(`${api.url}/jobs/${defaultPadding.json.id}`, key)).json.parameters.mask_padding, 32);

    const { mask_image: _m, ...noMask } = body;
    const refused = async (extra: Record<string, unknown>, param: string, message?: RegExp) => {
      const bad = await postJson(`${api.url}/generate`, extra, key);
      assert.equal(bad.status, 422, JSON.stringify(bad.json));
      assert.equal(bad.json.error.param, param);
      if (message) assert.match(bad.json.error.message, message);
    };
    await refused({ ...noMask, mask_content: 'fill' }, 'mask_content', /mask_content only applies to inpainting: send mask_image/);
    await refused({ ...noMask, inpaint_area: 'masked' }, 'inpaint_area', /inpaint_area only applies to inpainting/);
    await refused({ ...body, mask_padding: 8 }, 'mask_padding', /mask_padding only applies with inpaint_area "masked"/);
    await refused({ ...body, inpaint_area: 'masked', mask_padding: 300 }, 'mask_padding');
    await refused({ ...body, inpaint_area: 'masked', mask_padding: 2.5 }, 'mask_padding');
    await refused({ ...body, mask_content: 'blur' }, 'mask_content');
    await refused({ ...body, inpaint_area: 'only masked' }, 'inpaint_area');
    // /docs is generated from the same zod schema.
    const spec = await getJson(`${api.url}/openapi.json`);
    const fields = spec.json.paths['/generate'].post.requestBody.content['application/json'].schema.properties;
    assert.deepEqual(fields.mask_content.enum, ['fill', 'original', 'latent_noise', 'latent_nothing']);
    assert.deepEqual(fields.inpaint_area.enum, ['whole', 'masked']);
    assert.deepEqual([fields.mask_padding.minimum, fields.mask_padding.maximum], [0, 256]);
    assert.match(fields.mask_padding.description, /default 32/);
  });
});

// /imagine's inpainting options end to end: the real bot process against the Discord stand-in
// with the tiny model. mask_content + inpaint_area "only masked" + mask_padding reach the job
// (embed field, ℹ️), only the mask's box is repainted and every other pixel is the input's;
// 🔄 repeats them on the same mask, V (a variation of the whole image) leaves them behind; the
// options without a mask (or padding without only masked) are refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { gradientPng } from '../support/images.js';
import type { ViewMessage } from '../support/discord/index.js';
import { buttonId as button, embedField, isResult, refusalOf, resultOf, startHarness, type Harness } from './harness.js';

const SIZE = 64;
/** The mask's white (repaint) box: x 40..56, y 8..24. */
const BOX = { left: 40, top: 8, right: 56, bottom: 24 };

let h: Harness;
let input: Buffer;
let mask: Buffer;

before(async () => {
  h = await startHarness();
  await h.startBot();
  input = await gradientPng(SIZE);
  const raw = Buffer.alloc(SIZE * SIZE);
  for (let y = BOX.top; y < BOX.bottom; y++) for (let x = BOX.left; x < BOX.right; x++) raw[y * SIZE + x] = 255;
  mask = await sharp(raw, { raw: { width: SIZE, height: SIZE, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

const files = () => ({
  image: { filename: 'in.png', bytes: input, contentType: 'image/png' },
  mask: { filename: 'mask.png', bytes: mask, contentType: 'image/png' },
});

async function info(m: ViewMessage): Promise<string> {
  const click = await h.discord.clickButton(m, button(m, 'ℹ️'));
  await click.ack();
  return (await click.waitForOriginal(() => true))!.content;
}

function replyTo(to: ViewMessage, pred: (m: ViewMessage) => boolean): Promise<ViewMessage> {
  return h.discord.waitForMessage('general', (m) => m.reference?.messageId === to.id && isResult(m) && pred(m), { timeoutMs: 60_000 });
}

/** Asserts every pixel outside the box is the input's; returns the box's mean difference from it. */
async function keptOutsideBox(png: Uint8Array): Promise<{ box: number; raw: Buffer }> {
  const [o, i] = await Promise.all([png, input].map((p) => sharp(p).removeAlpha().raw().toBuffer({ resolveWithObject: true })));
  assert.deepEqual([o.info.width, o.info.height], [SIZE, SIZE]);
  let box = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const inBox = x >= BOX.left && x < BOX.right && y >= BOX.top && y < BOX.bottom;
      for (let c = 0; c < 3; c++) {
        const k = (y * SIZE + x) * 3 + c;
        if (inBox) box += Math.abs(o.data[k] - i.data[k]);
        else if (o.data[k] !== i.data[k]) assert.fail(`pixel ${x},${y} outside the mask is not the input's`);
      }
    }
  }
  return { box: box / ((BOX.right - BOX.left) * (BOX.bottom - BOX.top) * 3), raw: o.data };
}

const SUMMARY = 'Masked content: latent noise · Inpaint area: only masked, padding 8 px';

test('mask_content, inpaint_area only masked and mask_padding reach the job; only the box is repainted; 🔄 repeats them, V drops them', async () => {
  const run = await h.discord.slash('imagine', {
    prompt: 'a red balloon',
    size: `${SIZE}x${SIZE}`,
    steps: 3,
    seed: 5,
    ...files(),
    mask_content: 'latent_noise',
    inpaint_area: 'masked',
    mask_padding: 8,
  });
  await run.ack();
  const result = await resultOf(h.discord, run, 90_000);
  assert.equal(embedField(result, 'Inpainting'), SUMMARY);
  assert.equal(embedField(result, 'Strength'), '1');
  const first = await keptOutsideBox(result.attachments[0].bytes);
  assert.ok(first.box > 5, `the box is repainted (mean difference ${first.box})`);
  assert.match(await info(result), new RegExp(`\\*\\*Inpainting\\*\\* with a mask \\(white repainted, black kept\\) · ${SUMMARY}`));

  // 🔄: new seeds over the same input and mask, with the same options.
  const reroll = await h.discord.clickButton(result, button(result, '🔄'));
  await reroll.ack();
  const again = await replyTo(result, (m) => /New seeds/.test(m.history[0].content));
  assert.equal(embedField(again, 'Inpainting'), SUMMARY);
  const second = await keptOutsideBox(again.attachments[0].bytes);
  assert.ok(second.box > 5, `the box is repainted again (mean difference ${second.box})`);
  assert.ok(!second.raw.equals(first.raw), 'new seeds draw the box anew');

  // V1: a variation of the whole result, without the parent's mask or its options.
  const vary = await h.discord.clickButton(result, button(result, 'V1'));
  await vary.ack();
  const variation = await replyTo(result, (m) => /Variation of image 1/.test(m.content));
  assert.equal(embedField(variation, 'Inpainting'), undefined);
  assert.equal(embedField(variation, 'Strength'), '0.6');
  assert.doesNotMatch(await info(variation), /Inpainting/);
});

test('the inpainting options without a mask, or mask_padding without only masked, are refused before any job', async () => {
  const noMask = await h.discord.slash('imagine', { prompt: 'x', mask_content: 'fill', inpaint_area: 'masked' });
  await noMask.ack();
  const refusal = (await refusalOf(noMask)).content;
  assert.match(refusal, /\*\*mask_content\*\* only applies to inpainting/);
  assert.match(refusal, /\*\*inpaint_area\*\* only applies to inpainting/);

  const padding = await h.discord.slash('imagine', { prompt: 'x', ...files(), mask_padding: 8 });
  await padding.ack();
  assert.match((await refusalOf(padding)).content, /\*\*mask_padding\*\* only applies with inpaint_area: only masked/);
});

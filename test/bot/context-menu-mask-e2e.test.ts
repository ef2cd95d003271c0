// Inpainting and the message context-menu commands, end to end: the real bot process against the
// Discord stand-in with the tiny model. /imagine image + mask keeps the black part's pixels;
// "Vary this image" and "Edit image" work on another user's message (region preset or uploaded
// mask), record where the image came from in ℹ️, and an open Edit form survives a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import { buttonId as button, refusalOf, resultOf as resultIn, startHarness, type BotProcess, type Harness } from './harness.js';

let h: Harness;
let bot: BotProcess;
/** Bob's message: a 128×128 picture, red on the left half, blue on the right. */
let bobsPost: ViewMessage;
let picture: Buffer;

before(async () => {
  const guild = DEFAULT_GUILDS[0];
  h = await startHarness({ guilds: [{ ...guild, members: [...(guild.members ?? []), { username: 'bob' }] }] });
  bot = await h.startBot();
  picture = await halves(128, 128, [220, 30, 30], [30, 30, 220]);
  bobsPost = h.discord.postMessage('general', 'a red and blue flag', {
    user: 'bob',
    files: [{ filename: 'flag.png', bytes: picture, contentType: 'image/png' }],
  });
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

/** A w×h PNG whose left half is `left` and right half `right` (RGB). */
async function halves(w: number, h: number, left: number[], right: number[]): Promise<Buffer> {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set(x < w / 2 ? left : right, (y * w + x) * 3);
  return sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toBuffer();
}

/** Mean RGB of a rectangle of an image. */
async function meanOf(png: Uint8Array, rect: { left: number; top: number; width: number; height: number }): Promise<number[]> {
  const { data, info } = await sharp(png).extract(rect).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const sum = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
  return sum.map((v) => v / (data.length / info.channels));
}

const near = (a: number[], b: number[], tolerance: number) => a.every((v, i) => Math.abs(v - b[i]) <= tolerance);

async function info(m: ViewMessage, user = 'alice'): Promise<string> {
  const click = await h.discord.clickButton(m, button(m, 'ℹ️'), { user });
  await click.ack();
  return (await click.waitForOriginal(() => true))!.content;
}

/** The result of a context-menu command or form: like /imagine's, a reply to the deferred response. */
const resultOf = (run: InteractionHandle) => resultIn(h.discord, run, 90_000);

test('/imagine mask inpaints: the black part keeps the input’s pixels, the white part is repainted; a mask without an image is refused', async () => {
  const mask = await halves(64, 64, [255, 255, 255], [0, 0, 0]); // repaint the left, keep the right
  const run = await h.discord.slash('imagine', {
    prompt: 'a green field',
    size: '128x128',
    steps: 4,
    image: { filename: 'flag.png', bytes: picture, contentType: 'image/png' },
    mask: { filename: 'mask.png', bytes: mask, contentType: 'image/png' },
  });
  await run.ack();
  const result = await resultOf(run);
  const png = result.attachments[0].bytes;
  assert.deepEqual(await meanOf(png, { left: 72, top: 0, width: 56, height: 128 }), [30, 30, 220], 'kept region is the input, pixel for pixel');
  assert.ok(!near(await meanOf(png, { left: 0, top: 0, width: 56, height: 128 }), [220, 30, 30], 10), 'masked region was repainted');
  const text = await info(result);
  assert.match(text, /Inpainting\*\* with a mask/);
  assert.match(text, /\*\*Strength\*\* 1/);

  const refused = await h.discord.slash('imagine', { prompt: 'x', mask: { filename: 'mask.png', bytes: mask, contentType: 'image/png' } });
  await refused.ack();
  assert.match((await refusalOf(refused)).content, /\*\*mask\*\* needs an image to paint into/);
});

test('Vary this image on another user’s message starts image-to-image from it, with where it came from in ℹ️', async () => {
  const commands = h.discord.commands().map((c) => `${c.type}:${c.name}`);
  assert.ok(commands.includes('3:Vary this image') && commands.includes('3:Edit image'), commands.join(', '));
  const run = await h.discord.messageCommand('Vary this image', bobsPost, { user: 'alice' });
  assert.equal((await run.ack()).typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
  const result = await resultOf(run);
  assert.match(result.content, /a red and blue flag/);
  assert.match(result.content, /Variation of an image/);
  const text = await info(result);
  assert.match(text, /img2img/);
  assert.match(
    text,
    new RegExp(`\\*\\*From\\*\\* Vary this image of https://discord.com/channels/\\d+/\\d+/${bobsPost.id} \\(posted by <@${h.discord.user('bob').id}>\\)`),
  );
  // On a message without an image: a private answer, nothing queued.
  const text2 = h.discord.postMessage('general', 'no picture here', { user: 'bob' });
  const none = await h.discord.messageCommand('Vary this image', text2);
  await none.ack();
  const answer = await none.waitForOriginal(() => true);
  assert.ok(answer.ephemeral);
  assert.match(answer.content, /no PNG, JPEG or WebP image/);
});

test('Edit image on another user’s message: a region preset repaints only that region', async () => {
  const run = await h.discord.messageCommand('Edit image', bobsPost, { user: 'alice' });
  assert.equal((await run.ack()).typeName, 'MODAL');
  const modal = await run.modal();
  assert.match(JSON.stringify(modal.components), /"type":19/, 'a file-upload component for the mask');
  assert.match(JSON.stringify(modal.components), /"value":"a red and blue flag"/);
  const submit = await h.discord.submitModal(run, { prompt: 'a yellow sun', region: ['left_half'] });
  assert.equal((await submit.ack()).typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
  const result = await resultOf(submit);
  assert.match(result.content, /Edit of an image \(left half\)/);
  const png = result.attachments[0].bytes;
  const { width = 0, height = 0 } = await sharp(png).metadata();
  // The right half is kept: the input (scaled to the job's size) shows through, blue.
  assert.ok(near(await meanOf(png, { left: Math.round(width * 0.6), top: 0, width: Math.round(width * 0.4), height }), [30, 30, 220], 2));
  assert.ok(!near(await meanOf(png, { left: 0, top: 0, width: Math.round(width * 0.4), height }), [220, 30, 30], 10));
  assert.match(await info(result), /\*\*From\*\* Edit image… \(left half\) of https:\/\/discord.com\/channels\//);
});

test('Edit image with an uploaded mask, submitted after a restart', async () => {
  const run = await h.discord.messageCommand('Edit image', bobsPost, { user: 'alice' });
  assert.equal((await run.ack()).typeName, 'MODAL');
  assert.equal(await bot.stop(), 0);
  bot = await h.startBot();
  // White on the right: repaint the blue half, keep the red one.
  const mask = await halves(32, 32, [0, 0, 0], [255, 255, 255]);
  const submit = await h.discord.submitModal(run, { prompt: 'a white cloud', mask: [{ filename: 'mask.png', bytes: mask, contentType: 'image/png' }] });
  await submit.ack();
  const result = await resultOf(submit);
  assert.match(result.content, /Edit of an image \(uploaded mask\)/);
  const png = result.attachments[0].bytes;
  const { width = 0, height = 0 } = await sharp(png).metadata();
  assert.ok(near(await meanOf(png, { left: 0, top: 0, width: Math.round(width * 0.4), height }), [220, 30, 30], 2));
  assert.match(await info(result), /Inpainting\*\* with a mask/);

  // The form works once, for the one who opened it.
  const again = await h.discord.submitModal(run, { prompt: 'twice' });
  await again.ack();
  assert.match((await refusalOf(again)).content, /expired \(or belongs to someone else\)/);
});

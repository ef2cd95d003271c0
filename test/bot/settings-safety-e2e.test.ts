// Flagged images end to end: a tiny model whose safety checker flags every image, the real bot
// process and the Discord stand-in. `/settings safety flagged` block | blur | allow decides what
// a channel sees; grid, full files, previews and buttons all follow it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { InteractionHandle, SlashOptions, ViewMessage } from '../support/discord/index.js';
import { tinyModelWithSafetyChecker } from '../support/tiny-models.js';
import { makeGrid } from '../../src/bot/grid.js';
import { blurImage } from '../../src/bot/safety-delivery.js';
import { fullDifference, imageSize, isResult, resultOf, startHarness, type Harness } from './harness.js';

let h: Harness;

before(async () => {
  h = await startHarness();
  cpSync(await tinyModelWithSafetyChecker('always'), join(h.modelsDir, 'flagged'), { recursive: true });
  await h.startBot({ PROGRESS_EDIT_INTERVAL_MS: '200', IMAGINE_MAX_STEPS: '150' });
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

async function setFlagged(action: 'block' | 'blur' | 'allow'): Promise<void> {
  const run = await h.discord.slash('settings safety flagged', { action }, { user: 'mod' });
  await run.ack();
  assert.match((await run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 })).content, new RegExp(`Flagged images: \\*\\*${action}\\*\\*`));
}

// Enough steps at 128² that step previews (the worker sends one at most every 0.5 s) show even on
// an idle machine: the ceiling is raised for it, 50 steps finish before the first one now.
const REQUEST = { prompt: 'a lighthouse at night', model: 'flagged', seed: 42, steps: 150, size: '128x128', count: 2 };

function imagine(channel: string, options: SlashOptions = {}): Promise<InteractionHandle> {
  return h.discord.slash('imagine', { ...REQUEST, ...options }, { channel }).then(async (run) => {
    await run.ack();
    return run;
  });
}

/** The posted file is the open one blurred (blurImage's own strength is tested in test/settings). */
async function assertBlurredFrom(hidden: Uint8Array, open: Uint8Array, label: string): Promise<void> {
  assert.deepEqual(await imageSize(hidden), await imageSize(open));
  assert.ok((await fullDifference(hidden, open)) > 1, `${label}: differs from the original`);
  assert.ok((await fullDifference(hidden, await blurImage(Buffer.from(open)))) < 1, `${label}: is the original, blurred`);
}

const names = (m: ViewMessage) => m.attachments.map((a) => a.filename);
let openGrid: ViewMessage;
let blurredGrid: ViewMessage;

test('allow: flagged images are posted as they are in an age-restricted channel', async () => {
  await setFlagged('allow');
  const run = await imagine('nsfw-art');
  openGrid = await resultOf(h.discord, run);
  assert.deepEqual(names(openGrid), ['grid.png', 'seed-42.png', 'seed-43.png']);
  assert.equal((openGrid.embeds[0] as { image?: { url: string } }).image?.url, 'attachment://grid.png');
  assert.deepEqual(
    openGrid.buttons.map((b) => b.label ?? b.emoji?.name),
    ['U1', 'U2', 'V1', 'V2', '🔄', 'ℹ️'],
  );
  const original = (await run.original())!;
  assert.ok(
    original.history.some((v) => v.attachments.some((a) => a.filename === 'preview.webp')),
    'previews show here',
  );
});

test('allow outside an age-restricted channel, and blur: posted blurred, as spoilers, grid included', async () => {
  for (const [action, label] of [
    ['allow', 'allow in #general'],
    ['blur', 'blur'],
  ] as const) {
    await setFlagged(action);
    const run = await imagine('general');
    const m = await resultOf(h.discord, run);
    assert.deepEqual(names(m), ['SPOILER_grid.png', 'SPOILER_seed-42.png', 'SPOILER_seed-43.png'], label);
    assert.equal((m.embeds[0] as { image?: unknown }).image, undefined, `${label}: the embed does not show the picture openly`);
    assert.match(m.embeds[0].description ?? '', /2 of 2 images are blurred: the safety checker flagged them/);
    assert.deepEqual(
      m.buttons.map((b) => b.label ?? b.emoji?.name),
      ['U1', 'U2', 'V1', 'V2', '🔄', 'ℹ️'],
    );
    const original = (await run.original())!;
    assert.ok(!original.history.some((v) => v.attachments.length > 0), `${label}: no step preview showed the picture`);
    for (const i of [1, 2]) await assertBlurredFrom(m.attachments[i].bytes, openGrid.attachments[i].bytes, `${label}: file ${i}`);
    // The grid is made of the blurred images.
    const grid = await makeGrid([Buffer.from(m.attachments[1].bytes), Buffer.from(m.attachments[2].bytes)]);
    assert.ok((await fullDifference(m.attachments[0].bytes, grid)) < 1, `${label}: the grid shows the blurred images`);
    assert.ok((await fullDifference(m.attachments[0].bytes, openGrid.attachments[0].bytes)) > 1, `${label}: not the open grid`);
    blurredGrid = m;
  }

  // An upscale of a blurred image is blurred too (it carries its source's flag).
  const u1 = blurredGrid.buttons.find((b) => b.label === 'U1')!.customId!;
  const click = await h.discord.clickButton(blurredGrid, u1);
  await click.ack();
  const up = await h.discord.waitForMessage('general', (m) => m.reference?.messageId === blurredGrid.id && isResult(m), { timeoutMs: 30_000 });
  assert.deepEqual(names(up), ['SPOILER_seed-42-x2.png']);
  const openUp = await sharp(openGrid.attachments[1].bytes).resize(256, 256, { kernel: 'lanczos3' }).png().toBuffer();
  assert.deepEqual(await imageSize(up.attachments[0].bytes), { width: 256, height: 256, format: 'png' });
  assert.ok((await fullDifference(up.attachments[0].bytes, openUp)) > 1, 'the upscale is not posted open');
});

test('block: flagged images are not posted, and buttons of older posts cannot bring them back', async () => {
  await setFlagged('block');
  const run = await imagine('nsfw-art');
  const original = (await run.original())!;
  const m = await h.discord.waitForMessage('nsfw-art', (x) => x.reference?.messageId === original.id && /Nothing to show/.test(x.content), {
    timeoutMs: 30_000,
  });
  assert.match(m.content, /🚫 Nothing to show \(job `[0-9a-f-]{36}`\): 2 of 2 images were withheld: the safety checker flagged them\./);
  assert.deepEqual(m.attachments, []);
  assert.deepEqual(
    m.buttons.map((b) => b.label ?? b.emoji?.name),
    ['🔄', 'ℹ️'],
    'no U/V for withheld images',
  );
  assert.ok(!(await run.original())!.history.some((v) => v.attachments.length > 0), 'no step preview showed the picture');

  // The blurred post from before still has U/V buttons: they are refused now.
  for (const label of ['U2', 'V1']) {
    const b = blurredGrid.buttons.find((x) => x.label === label)!.customId!;
    const click = await h.discord.clickButton(blurredGrid, b);
    await click.ack();
    const note = await click.waitForFollowUp((x) => x.ephemeral, { timeoutMs: 10_000 });
    const n = Number(label[1]);
    assert.equal(note.content, `Image ${n} was withheld (the safety checker flagged it), so it has no ${label[0] === 'U' ? 'upscale' : 'variations'}.`);
  }
});

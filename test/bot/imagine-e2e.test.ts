// The real bot process against the Discord stand-in with a tiny model: /imagine from ack to
// result, every button, option errors, two users at once, cancelling, upload limits.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import {
  buttonId as button,
  downscaledDifference,
  embedField as field,
  fullDifference,
  imageSize,
  isResult,
  refusalOf,
  resultOf as resultIn,
  startHarness,
  type Harness,
} from './harness.js';

const PROGRESS_MS = 200;
let h: Harness;
/** The /imagine result the button tests start from (4 images, seeds 1234–1237). */
let grid: ViewMessage;

before(async () => {
  const guild = DEFAULT_GUILDS[0];
  h = await startHarness({
    guilds: [
      {
        ...guild,
        members: [...(guild.members ?? []), { username: 'bob' }],
        channels: [...(guild.channels ?? []), { name: 'read-only', permissionOverwrites: [{ user: 'Imagine', deny: ['SendMessages'] }] }],
      },
    ],
  });
  await h.startBot({ PROGRESS_EDIT_INTERVAL_MS: String(PROGRESS_MS), IMAGINE_MAX_STEPS: '120', MAX_QUEUED_PER_USER: '2' });
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

const resultOf = (run: InteractionHandle) => resultIn(h.discord, run);

/** The reply a button click produces: a channel message replying to `to`, once it shows a result. */
function replyTo(to: ViewMessage, pred: (m: ViewMessage) => boolean = isResult): Promise<ViewMessage> {
  return h.discord.waitForMessage('general', (m) => m.reference?.messageId === to.id && pred(m), { timeoutMs: 30_000 });
}

async function pngs(m: ViewMessage): Promise<{ name: string; width: number; height: number; format: string; bytes: Uint8Array }[]> {
  return Promise.all(m.attachments.map(async (a) => ({ name: a.filename, bytes: a.bytes, ...(await imageSize(a.bytes)) })));
}

test('/imagine is acked within 3 s, shows position and throttled progress, and ends with a 2×2 grid, four PNGs and the buttons', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'a red fox in the snow', seed: 1234, steps: 120, size: '128x128', count: 4, model: 'tiny' });
  const ack = await run.ack();
  assert.equal(ack.typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
  assert.ok(ack.latencyMs < 3000, `acked after ${ack.latencyMs} ms`);

  grid = await resultOf(run);
  const alice = h.discord.user('alice').id;
  assert.equal(grid.kind, 'channel', 'the result is an ordinary channel message');
  assert.ok(grid.content.includes(`<@${alice}>`) && grid.mentions.users.includes(alice), 'it pings the requester');
  const original = await run.waitForOriginal((m) => /✅ Done/.test(m.content), { timeoutMs: 10_000 });
  assert.equal(grid.reference?.messageId, original.id, 'replying to the request');
  assert.match(original.content, /✅ Done in (\d+ ms|\d+\.\d s): the images are in the reply below\./);
  assert.deepEqual([original.attachments.length, original.buttons.length], [0, 0]);

  const versions = original.history;
  assert.ok(
    versions.some((v) => /Queued/.test(v.content)),
    'a version shows the queue position',
  );
  const progress = versions.filter((v) => /Step \d+\/\d+ \(\d+%\)/.test(v.content));
  assert.ok(progress.length >= 1, `progress edits: ${versions.map((v) => v.content).join(' | ')}`);
  assert.ok(
    progress.some((v) => v.attachments.some((a) => a.filename === 'preview.webp')),
    'progress shows a preview image',
  );
  // Throttled: status edits (all but the final one) are at least the interval apart.
  const status = versions.slice(1, -1);
  for (let i = 1; i < status.length; i++) {
    assert.ok(status[i].at - status[i - 1].at >= PROGRESS_MS - 30, `edits ${status[i].at - status[i - 1].at} ms apart`);
  }

  const files = await pngs(grid);
  assert.deepEqual(
    files.map((f) => [f.format, f.width, f.height]),
    [
      ['png', 256, 256],
      ['png', 128, 128],
      ['png', 128, 128],
      ['png', 128, 128],
      ['png', 128, 128],
    ],
  );
  assert.equal(files[0].name, 'grid.png');
  assert.equal((grid.embeds[0] as { image?: { url: string } }).image?.url, 'attachment://grid.png');
  assert.equal(field(grid, 'Seeds'), '1234–1237');
  assert.equal(field(grid, 'Steps'), '120');
  assert.equal(field(grid, 'Model'), 'tiny');
  assert.equal(field(grid, 'Scheduler'), 'pndm');
  assert.equal(field(grid, 'Size'), '128×128');
  assert.equal(field(grid, 'Requested by'), `<@${alice}>`);
  assert.match(field(grid, 'Time') ?? '', /\d m?s$/);

  assert.equal(grid.components.length, 3);
  assert.deepEqual(
    grid.buttons.map((b) => b.label ?? b.emoji?.name),
    ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'ℹ️'],
  );
  assert.ok(grid.buttons.every((b) => (b.customId ?? '').length <= 100));
});

test('U2 posts the second image at twice the size, replying to the grid and mentioning the clicker', async () => {
  const click = await h.discord.clickButton(grid, button(grid, 'U2'), { user: 'mod' });
  await click.ack();
  const up = await replyTo(grid);
  const [file] = await pngs(up);
  assert.equal(up.attachments.length, 1);
  assert.deepEqual([file.format, file.width, file.height], ['png', 256, 256]);
  assert.ok(up.history[0].mentions.users.includes(h.discord.user('mod').id), 'the first post pings the clicker');
  assert.equal(field(up, 'Requested by'), `<@${h.discord.user('mod').id}>`);
  const original = grid.attachments[2].bytes;
  assert.ok((await downscaledDifference(file.bytes, original, 32)) < 4, 'the upscale shows the same picture');
  // A single image gets the editing tools (test/bot/edit-e2e.test.ts), then ℹ️.
  assert.deepEqual(
    up.buttons.map((b) => b.label ?? b.emoji?.name),
    ['Vary (Subtle)', 'Vary (Strong)', 'Upscale (Subtle)', 'Upscale (Creative)', 'Zoom Out 2×', 'Zoom Out 1.5×', 'Custom Zoom', '⬅️', '➡️', '⬆️', '⬇️', 'ℹ️'],
  );
});

test('V3 posts variations that differ from image 3 but keep its layout', async () => {
  const click = await h.discord.clickButton(grid, button(grid, 'V3'));
  await click.ack();
  const variation = await replyTo(grid, (m) => isResult(m) && /Variation of image 3/.test(m.content));
  const files = (await pngs(variation)).slice(1);
  assert.equal(files.length, 4);
  const originals = grid.attachments.slice(1).map((a) => a.bytes);
  // Layout: in an 8×8 comparison the variations are, on average, clearly nearer image 3 than
  // the other seeds' images are (one tiny-model image may happen to resemble another seed's).
  let near = 0;
  let others = 0;
  for (const f of files) {
    assert.deepEqual([f.format, f.width, f.height], ['png', 128, 128]);
    assert.ok((await fullDifference(f.bytes, originals[2])) > 2, 'a variation is a new picture');
    const d = await Promise.all(originals.map((o) => downscaledDifference(f.bytes, o, 8)));
    near += d[2] / files.length;
    others += (d[0] + d[1] + d[3]) / 3 / files.length;
  }
  assert.ok(near < 0.85 * others, `nearer image 3 (${near.toFixed(1)}) than the others (${others.toFixed(1)})`);
  assert.equal(field(variation, 'Strength'), '0.6');
});

test('🔄 runs the same parameters with new seeds', async () => {
  const click = await h.discord.clickButton(grid, button(grid, '🔄'));
  await click.ack();
  const again = await replyTo(grid, (m) => isResult(m) && /New seeds/.test(m.history[0].content));
  assert.equal(again.attachments.length, 5);
  assert.notEqual(field(again, 'Seeds'), field(grid, 'Seeds'));
  assert.equal(field(again, 'Steps'), '120');
  assert.equal(again.embeds[0].description, grid.embeds[0].description);
});

test('ℹ️ shows every parameter to the clicker only', async () => {
  const click = await h.discord.clickButton(grid, button(grid, 'ℹ️'), { user: 'bob' });
  const ack = await click.ack();
  assert.equal(ack.typeName, 'CHANNEL_MESSAGE_WITH_SOURCE');
  const info = await click.original();
  assert.ok(info?.ephemeral);
  assert.match(info!.content, /Seeds\*\* 1234–1237/);
  assert.match(info!.content, /\/imagine prompt:a red fox in the snow negative:|\/imagine prompt:a red fox in the snow seed:1234 steps:120/);
});

test('a bad option gets an ephemeral message saying what is allowed', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'x', steps: 130, size: 'huge' });
  const ack = await run.ack();
  assert.equal(ack.typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE', 'deferred at once; the checks come after');
  const m = await refusalOf(run);
  assert.ok(m?.ephemeral);
  assert.match(m!.content, /steps\*\* must be between 1 and 120/);
  assert.match(m!.content, /size\*\* "huge" is not a size; use square, portrait, landscape, wide, or WxH/);

  const missing = await h.discord.slash('imagine', { prompt: 'x', model: 'nope' });
  await missing.ack();
  assert.match((await refusalOf(missing)).content, /Model "nope" is not installed\. Available: broken, tiny\./);
  const seenByBob = h.discord.messages('general', { visibleTo: 'bob' });
  assert.ok(!seenByBob.some((x) => x.id === m!.id), 'others do not see it');
});

test('two users at once both get their images', async () => {
  const [a, b] = await Promise.all([
    h.discord.slash('imagine', { prompt: 'alice picture', steps: 20, size: '64x64', count: 2 }, { user: 'alice' }),
    h.discord.slash('imagine', { prompt: 'bob picture', steps: 20, size: '64x64' }, { user: 'bob' }),
  ]);
  await Promise.all([a.ack(), b.ack()]);
  const [ra, rb] = await Promise.all([resultOf(a), resultOf(b)]);
  assert.equal(field(ra, 'Requested by'), `<@${h.discord.user('alice').id}>`);
  assert.equal(field(rb, 'Requested by'), `<@${h.discord.user('bob').id}>`);
  assert.equal(ra.attachments.length, 3);
  assert.equal(rb.attachments.length, 1);
  assert.deepEqual(await imageSize(rb.attachments[0].bytes), { width: 64, height: 64, format: 'png' });
});

test('❌ cancels only for the requester (or a moderator)', async () => {
  const busy = await h.discord.slash('imagine', { prompt: 'keeps the worker busy', steps: 120, size: '128x128', count: 4 });
  await busy.ack();
  const run: InteractionHandle = await h.discord.slash('imagine', { prompt: 'to be cancelled', steps: 120, size: '128x128', count: 4 });
  await run.ack();
  const pending = await run.waitForOriginal((m) => m.buttons.some((b) => b.customId?.startsWith('img:X:')), { timeoutMs: 30_000 });
  const x = button(pending, '❌');

  const byBob = await h.discord.clickButton(pending, x, { user: 'bob' });
  await byBob.ack();
  const refusal = await byBob.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
  assert.match(refusal.content, /Only <@\d+> \(who asked for it\) or a moderator can cancel/);

  const byAlice = await h.discord.clickButton(pending, x, { user: 'alice' });
  await byAlice.ack();
  assert.equal((await byAlice.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 })).content, 'Cancelled.');
  const cancelled = await run.waitForOriginal((m) => /Cancelled by/.test(m.content), { timeoutMs: 10_000 });
  assert.equal(cancelled.buttons.length, 0);
  await resultOf(busy);
});

test('files over the upload limit are sent as WebP or JPEG that fit', async () => {
  const limit = 9000;
  const run = await h.discord.slash('imagine', { prompt: 'big file', steps: 10, size: '128x128' }, { attachmentSizeLimit: limit });
  await run.ack();
  const m = await resultOf(run);
  const [a] = m.attachments;
  assert.ok(a.size <= limit, `${a.size} bytes`);
  assert.match(a.contentType ?? '', /^image\/(webp|jpeg)$/);
  const meta = await sharp(a.bytes).metadata();
  assert.ok(meta.width! > 0 && meta.height! > 0);
  assert.match(m.embeds[0].description ?? '', /WebP\/JPEG/);
});

test('an attached image is the start of image-to-image', async () => {
  const input = await sharp({ create: { width: 128, height: 128, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .composite([
      {
        input: await sharp({ create: { width: 64, height: 128, channels: 3, background: { r: 20, g: 40, b: 220 } } })
          .png()
          .toBuffer(),
        left: 64,
        top: 0,
      },
    ])
    .png()
    .toBuffer();
  const run = await h.discord.slash('imagine', {
    prompt: 'repaint',
    size: '128x128',
    steps: 20,
    strength: 0.2,
    image: { filename: 'in.png', bytes: input, contentType: 'image/png' },
  });
  await run.ack();
  const m = await resultOf(run);
  assert.equal(field(m, 'Strength'), '0.2');
  assert.ok((await downscaledDifference(m.attachments[0].bytes, input, 4)) < 40, 'keeps the red/blue halves');
});

test('model and size are autocompleted from what is installed', async () => {
  const models = await h.discord.autocomplete('imagine', { prompt: 'x', model: 'ti' }, 'model');
  assert.deepEqual(await models.choices(), [{ name: 'tiny (default)', value: 'tiny' }]);
  const none = await h.discord.autocomplete('imagine', { prompt: 'x', model: 'zz' }, 'model');
  assert.deepEqual(await none.choices(), []);

  const sizes = await h.discord.autocomplete('imagine', { prompt: 'x', size: '' }, 'size');
  assert.deepEqual(
    (await sizes.choices()).map((c) => c.name),
    ['square (256x256)', 'portrait (192x320)', 'landscape (320x192)', 'wide (320x192)'],
  );
  const custom = await h.discord.autocomplete('imagine', { prompt: 'x', size: '128x192' }, 'size');
  assert.deepEqual((await custom.choices())[0], { name: '128x192', value: '128x192' });
  const portrait = await h.discord.autocomplete('imagine', { prompt: 'x', size: 'po' }, 'size');
  assert.deepEqual(await portrait.choices(), [{ name: 'portrait (192x320)', value: 'portrait' }]);
});

test('a failed generation says so, with the job id', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'doomed', steps: 2, size: '64x64', model: 'broken' });
  await run.ack();
  const m = await run.waitForOriginal((x) => /Generation failed/.test(x.content), { timeoutMs: 30_000 });
  assert.match(m.content, /⚠️ Generation failed \(job `[0-9a-f-]{36}`\): Cannot load unet/);
  assert.equal(m.buttons.length, 0);
});

test('over the per-user queue cap, the extra request is refused with the reason', async () => {
  const runs = [];
  for (let i = 0; i < 4; i++) runs.push(await h.discord.slash('imagine', { prompt: `burst ${i}`, steps: 60, size: '128x128', count: 4 }, { user: 'owner' }));
  await Promise.all(runs.map((r) => r.ack()));
  // Each is either queued (its reply shows progress) or refused (an ephemeral follow-up, the reply deleted).
  const outcomes = await Promise.all(
    runs.map((r) =>
      h.discord.waitFor(
        () => (r.followUps().some((m) => m.ephemeral) ? 'refused' : /Queued|Step|Starting|Done/.test(r.original()?.content ?? '') ? 'queued' : undefined),
        {
          timeoutMs: 30_000,
          message: 'each burst request queued or refused',
        },
      ),
    ),
  );
  const refusedRuns = runs.filter((_, i) => outcomes[i] === 'refused');
  assert.ok(refusedRuns.length >= 1, 'the cap of 2 waiting jobs was hit');
  const refusal = await refusalOf(refusedRuns[0]);
  assert.match(refusal.content, /⏳ You already have 2 jobs waiting \(the limit\); wait for one to finish\./);
  assert.ok(refusal.ephemeral, 'the refusal is for the requester alone');
  assert.ok(!h.discord.messages('general').some((m) => /jobs waiting/.test(m.content)), 'nobody else sees it');
  const accepted = runs.filter((_, i) => outcomes[i] === 'queued');
  assert.ok(accepted.length >= 2);
  await Promise.all(accepted.map((r) => resultOf(r)));
});

test('when Discord refuses the bot’s post, the clicker is told', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'in a read-only channel', steps: 2, size: '64x64' }, { channel: 'read-only' });
  await run.ack();
  // The bot may not post there, so the result stays in the interaction response.
  const result = await resultOf(run);
  assert.equal(result.id, (await run.original())!.id);
  const click = await h.discord.clickButton(result, button(result, 'U1'));
  await click.ack();
  const note = await click.waitForFollowUp((m) => m.ephemeral, { timeoutMs: 10_000 });
  assert.match(note.content, /I cannot post in this channel .*Missing Permissions/);
});

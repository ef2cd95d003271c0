// The tools under a single image, end to end: the real bot process and a tiny model (native
// 256×256) against the Discord stand-in. From a U result (256×256): each tool posts a new
// message, replying to the clicked one, with an image of the expected size and the same tools
// again; an outpaint's kept region is the source's pixels; Custom Zoom's modal round-trips its
// prompt and factor; ℹ️ names the lineage; a button still works after a restart; the tools'
// jobs count toward the quotas; and a click from another server finds nothing.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { parseCustomId } from '../../src/bot/custom-id.js';
import { keptRegion, outpaintCanvas } from '../../src/diffusion/outpaint-geometry.js';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { ViewMessage } from '../support/discord/index.js';
import { buttonId as button, embedField as field, imageSize, isResult, resultOf, startHarness, type BotProcess, type Harness } from './harness.js';

const TOOLS = [
  'Vary (Subtle)',
  'Vary (Strong)',
  'Upscale (Subtle)',
  'Upscale (Creative)',
  'Zoom Out 2×',
  'Zoom Out 1.5×',
  'Custom Zoom',
  '⬅️',
  '➡️',
  '⬆️',
  '⬇️',
  'ℹ️',
];
const NATIVE = 256 * 256;
const BOT_ENV = { VARY_SUBTLE_STRENGTH: '0.3', VARY_STRONG_STRENGTH: '0.8' };
let h: Harness;
let bot: BotProcess;
/** The U result every tool starts from: 256×256. */
let upscaled: ViewMessage;
/** Zoom Out 2×'s result, asked about again after the restart. */
let zoomedOut: ViewMessage;
/** Jobs alice has asked for so far (quotas count them). */
let aliceJobs = 0;

before(async () => {
  h = await startHarness({
    guilds: [
      DEFAULT_GUILDS[0],
      {
        name: 'Other Guild',
        channels: [{ name: 'elsewhere' }],
        roles: [{ name: 'Moderator', permissions: ['ManageGuild', 'ManageMessages'] }],
        members: [{ username: 'mallory', roles: ['Moderator'] }],
      },
    ],
  });
  bot = await h.startBot(BOT_ENV);
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

/** Alice clicks `label` under `on`; resolves with the result message replying to it whose content matches `title`. */
async function use(on: ViewMessage, label: string, title: RegExp): Promise<ViewMessage> {
  const click = await h.discord.clickButton(on, button(on, label), { user: 'alice' });
  await click.ack();
  aliceJobs++;
  return replyTo(on, title);
}

function replyTo(on: ViewMessage, title: RegExp): Promise<ViewMessage> {
  return h.discord.waitForMessage('general', (m) => m.reference?.messageId === on.id && isResult(m) && title.test(m.content), {
    timeoutMs: 90_000,
    message: `a result matching ${title}`,
  });
}

async function onlyImage(m: ViewMessage): Promise<{ bytes: Uint8Array; width: number; height: number }> {
  assert.equal(m.attachments.length, 1, 'one image');
  const bytes = m.attachments[0].bytes;
  return { bytes, ...(await imageSize(bytes)) };
}

/** ℹ️ under `m`, as the clicker sees it. */
async function info(m: ViewMessage): Promise<string> {
  const click = await h.discord.clickButton(m, button(m, 'ℹ️'), { user: 'alice' });
  await click.ack();
  return (await click.original())!.content;
}

const jobIdOf = (m: ViewMessage) => parseCustomId(button(m, 'ℹ️'))!.jobId;

test('setup: /imagine 128×128, then U1 gives a 256×256 image with the editing tools', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'a lighthouse on a cliff', seed: 11, steps: 2, size: '128x128', count: 1 }, { user: 'alice' });
  await run.ack();
  aliceJobs++;
  const grid = await resultOf(h.discord, run, 60_000);
  upscaled = await use(grid, 'U1', /Upscale ×2 of image 1/);
  const u = await onlyImage(upscaled);
  assert.deepEqual([u.width, u.height], [256, 256]);
  assert.deepEqual(
    upscaled.buttons.map((b) => b.label ?? b.emoji?.name),
    TOOLS,
  );
  assert.ok(upscaled.buttons.every((b) => (b.customId ?? '').length <= 100));
});

test('Zoom Out 2× keeps the native area, the source in the centre pixel for pixel, and names its lineage', async () => {
  const zoomed = await use(upscaled, 'Zoom Out 2×', /Zoom Out 2× of image 1/);
  zoomedOut = zoomed;
  const z = await onlyImage(zoomed);
  assert.deepEqual([z.width, z.height], [256, 256], 'the native area');
  const source = (await onlyImage(upscaled)).bytes;
  const kept = keptRegion({ width: 256, height: 256 }, { kind: 'zoom', factor: 2 }, { width: 256, height: 256 });
  assert.deepEqual(kept, { left: 64, top: 64, width: 128, height: 128 });
  const expected = await sharp(source).removeAlpha().resize(128, 128, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  const actual = await sharp(z.bytes).removeAlpha().extract(kept).raw().toBuffer();
  assert.ok(actual.equals(expected), 'the kept centre is the source, scaled');
  const border = await sharp(z.bytes).removeAlpha().extract({ left: 0, top: 0, width: 256, height: 64 }).raw().toBuffer();
  assert.ok(new Set(border).size > 8, 'the border is drawn, not blank');
  assert.deepEqual(
    zoomed.buttons.map((b) => b.label ?? b.emoji?.name),
    TOOLS,
    'the result has the tools again',
  );
  const text = await info(zoomed);
  assert.ok(text.includes(`Zoom Out 2× of job \`${jobIdOf(upscaled)}\` image 1`), text);
});

test('➡ extends the right side by (at least) half, the source kept on the left', async () => {
  const panned = await use(upscaled, '➡️', /Pan ➡ of image 1/);
  const p = await onlyImage(panned);
  const canvas = outpaintCanvas({ width: 256, height: 256 }, { kind: 'pan', direction: 'right' }, NATIVE);
  assert.deepEqual([p.width, p.height], [canvas.width, canvas.height]);
  assert.ok(p.width > p.height, `${p.width}×${p.height} is wider than high`);
  const kept = keptRegion({ width: 256, height: 256 }, { kind: 'pan', direction: 'right' }, canvas);
  assert.equal(kept.left, 0);
  assert.ok(p.width - kept.width >= kept.width / 2 - 1, `a new strip of ${p.width - kept.width} px on the right of ${kept.width}`);
  const expected = await sharp((await onlyImage(upscaled)).bytes)
    .removeAlpha()
    .resize(kept.width, kept.height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  assert.ok((await sharp(p.bytes).removeAlpha().extract(kept).raw().toBuffer()).equals(expected), 'the left part is the source');
});

test('Custom Zoom opens a modal with the prompt; the edited prompt and factor come back in the result and ℹ️', async () => {
  const click = await h.discord.clickButton(upscaled, button(upscaled, 'Custom Zoom'), { user: 'alice' });
  const ack = await click.ack();
  assert.equal(ack.typeName, 'MODAL');
  const modal = JSON.stringify(await click.modal());
  assert.match(modal, /a lighthouse on a cliff/, 'prefilled with the prompt');
  const submit = await h.discord.submitModal(click, { prompt: 'a lighthouse at dusk', zoom: '1.25' }, { user: 'alice' });
  await submit.ack();
  aliceJobs++;
  const zoomed = await replyTo(upscaled, /Zoom Out 1\.25× of image 1/);
  const z = await onlyImage(zoomed);
  assert.deepEqual([z.width, z.height], [256, 256]);
  assert.match(zoomed.embeds[0].description ?? '', /a lighthouse at dusk/);
  const text = await info(zoomed);
  assert.match(text, /Prompt\*\* a lighthouse at dusk/);
  assert.ok(text.includes(`Zoom Out 1.25× of job \`${jobIdOf(upscaled)}\` image 1`), text);

  // A factor outside 1–2 is refused, to the clicker only, and queues nothing.
  const again = await h.discord.clickButton(upscaled, button(upscaled, 'Custom Zoom'), { user: 'alice' });
  await again.ack();
  const bad = await h.discord.submitModal(again, { prompt: 'x', zoom: '3' }, { user: 'alice' });
  await bad.ack();
  const refusal = await h.discord.waitFor(() => bad.messages().find((m) => m.ephemeral && !m.loading), { timeoutMs: 10_000, message: 'the refusal' });
  assert.match(refusal.content, /between 1 and 2/);
});

test('Vary (Subtle) and (Strong) redraw at the native size with the owner’s strengths', async () => {
  const subtle = await use(upscaled, 'Vary (Subtle)', /Vary \(Subtle\) of image 1/);
  const s = await onlyImage(subtle);
  assert.deepEqual([s.width, s.height], [256, 256]);
  assert.equal(field(subtle, 'Strength'), '0.3');
  const strong = await use(upscaled, 'Vary (Strong)', /Vary \(Strong\) of image 1/);
  assert.equal(field(strong, 'Strength'), '0.8');
  assert.deepEqual(
    strong.buttons.map((b) => b.label ?? b.emoji?.name),
    TOOLS,
  );
});

test('Upscale (Subtle) and (Creative) double the image', async () => {
  const subtle = await use(upscaled, 'Upscale (Subtle)', /Upscale \(Subtle\) of image 1/);
  const s = await onlyImage(subtle);
  assert.deepEqual([s.width, s.height], [512, 512]);
  const creative = await use(upscaled, 'Upscale (Creative)', /Upscale \(Creative\) of image 1/);
  const c = await onlyImage(creative);
  assert.deepEqual([c.width, c.height], [512, 512]);
  assert.match(await info(creative), /Size\*\* 512×512/);
});

test('a click from another server finds nothing, opens no modal and queues nothing', async () => {
  const mallory = { user: 'mallory', channel: 'elsewhere', skipClientChecks: true };
  const own = await h.discord.slash('imagine', { prompt: 'mallory picture', steps: 1, size: '64x64' }, { user: 'mallory', channel: 'elsewhere' });
  await own.ack();
  const hers = await resultOf(h.discord, own, 60_000);
  const before = h.discord.messages('general').length;
  for (const label of ['Zoom Out 2×', 'Custom Zoom', 'Vary (Strong)']) {
    const click = await h.discord.clickButton(hers, button(upscaled, label), mallory);
    const ack = await click.ack();
    assert.notEqual(ack.typeName, 'MODAL', label);
    const answer = await h.discord.waitFor(() => click.messages().find((m) => m.ephemeral && !m.loading), {
      timeoutMs: 10_000,
      message: `the answer to ${label}`,
    });
    assert.match(answer.content, /no longer stored/, label);
    assert.doesNotMatch(answer.content, /lighthouse/);
  }
  assert.equal(h.discord.messages('general').length, before, 'nothing posted in the job’s own server');
  assert.equal(h.discord.messages('elsewhere').filter((m) => /Zoom|Vary/.test(m.content)).length, 0);
});

test('after a restart a tool still works, and the tools’ jobs count toward the hourly quota', async () => {
  await bot.stop();
  // One job left in the hour: the pan runs, the next tool is refused.
  bot = await h.startBot({ ...BOT_ENV, IMAGINE_MAX_JOBS_PER_HOUR: String(aliceJobs + 1) });
  const down = await use(upscaled, '⬇️', /Pan ⬇ of image 1/);
  // Lineage is stored with the job: ℹ️ still names it from the database.
  assert.ok((await info(zoomedOut)).includes(`Zoom Out 2× of job \`${jobIdOf(upscaled)}\` image 1`));
  const d = await onlyImage(down);
  assert.ok(d.height > d.width, `${d.width}×${d.height} is higher than wide`);
  const click = await h.discord.clickButton(upscaled, button(upscaled, 'Zoom Out 1.5×'), { user: 'alice' });
  await click.ack();
  const refusal = await h.discord.waitFor(() => click.messages().find((m) => m.ephemeral && !m.loading), { timeoutMs: 10_000, message: 'the quota refusal' });
  assert.match(refusal.content, /per hour/);
});

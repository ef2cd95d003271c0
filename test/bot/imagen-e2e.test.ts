// The provider policy end to end: the real bot process against the Discord stand-in, with the
// real @google/genai client talking to the Google stand-in. Each block starts a bot with one
// environment (the policy comes from IMAGE_PROVIDER, as for a guild without settings) and its
// own DATA_DIR, so Imagen's daily counts start from zero.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import { standInColour, startGoogleStandIn, type GoogleStandIn } from '../support/google/index.js';
import { imageSize, isResult, refusalOf, resultOf as resultIn, startHarness, type BotProcess, type Harness } from './harness.js';

const IMAGEN_MODEL = 'Imagen 4 Fast (imagen-4.0-fast-generate-001)';

let google: GoogleStandIn;
before(async () => {
  google = await startGoogleStandIn();
});
after(async () => {
  await google.close();
});

/** A harness and one bot with `env`, for the block it is called in. */
function withBot(env: (google: GoogleStandIn) => Record<string, string>): { h: () => Harness; bot: () => BotProcess } {
  let h: Harness | undefined;
  let bot: BotProcess | undefined;
  before(async () => {
    h = await startHarness();
    bot = await h.startBot({ PROGRESS_EDIT_INTERVAL_MS: '200', ...env(google) });
  });
  after(async () => {
    if (!h) return;
    const problems = { unhandled: h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`), errors: h.discord.errors };
    await h.close();
    assert.deepEqual(problems, { unhandled: [], errors: [] });
  });
  return { h: () => h!, bot: () => bot! };
}

const imagenKey = (g: GoogleStandIn) => ({ GOOGLE_API_KEY: g.apiKey, GOOGLE_API_BASE_URL: g.baseUrl });

const field = (m: ViewMessage, name: string) => (m.embeds[0] as { fields?: { name: string; value: string }[] }).fields?.find((f) => f.name === name)?.value;
const description = (m: ViewMessage) => String((m.embeds[0] as { description?: string }).description ?? '');
function button(m: ViewMessage, label: string): string {
  const b = m.buttons.find((x) => x.label === label || x.emoji?.name === label);
  assert.ok(b?.customId, `no button ${label} on ${m.id}`);
  return b.customId;
}

async function pixel(bytes: Uint8Array): Promise<number[]> {
  const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return [data[0], data[1], data[2]];
}

/** A click's result: the channel message replying to `to` that shows a result matching `pred`. */
function replyTo(h: Harness, to: ViewMessage, pred: (m: ViewMessage) => boolean): Promise<ViewMessage> {
  return h.discord.waitForMessage('general', (m) => m.reference?.messageId === to.id && isResult(m) && pred(m), { timeoutMs: 30_000 });
}

async function refusal(run: InteractionHandle): Promise<string> {
  await run.ack();
  const m = await refusalOf(run);
  assert.ok(m.ephemeral, `an ephemeral refusal, got: ${m.content}`);
  return m.content;
}

describe('policy fallback on a bot without local devices (DEVICES=none)', () => {
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'none', IMAGE_PROVIDER: 'fallback' }));
  let grid: ViewMessage;

  test('/imagine is drawn by Imagen and comes back like a local result: grid, files, buttons; the embed names provider and model', async () => {
    const calls = google.predictCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'a lighthouse at dusk', size: '640x512', count: 4, model: 'tiny' });
    assert.equal((await run.ack()).typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
    grid = await resultIn(h().discord, run);

    const [call, ...more] = google.predictCalls().slice(calls);
    assert.deepEqual(more, []);
    assert.equal(call.path, '/v1beta1/publishers/google/models/imagen-4.0-fast-generate-001:predict');
    assert.deepEqual((call.body as { instances: unknown }).instances, [{ prompt: 'a lighthouse at dusk' }]);
    assert.equal((call.body as { parameters: { sampleCount: number; aspectRatio: string } }).parameters.sampleCount, 4);
    assert.equal((call.body as { parameters: { aspectRatio: string } }).parameters.aspectRatio, '4:3');

    // 4:3 at 1280×896 / 16: Imagen's size, not the requested 640×512.
    const files = await Promise.all(grid.attachments.map(async (a) => ({ name: a.filename, ...(await imageSize(a.bytes)) })));
    assert.deepEqual(
      files.map((f) => [f.name, f.format, f.width, f.height]),
      [
        ['grid.png', 'png', 160, 112],
        ['image-1.png', 'png', 80, 56],
        ['image-2.png', 'png', 80, 56],
        ['image-3.png', 'png', 80, 56],
        ['image-4.png', 'png', 80, 56],
      ],
    );
    // The pixels are the ones Google sent, in order.
    for (let i = 0; i < 4; i++) {
      const c = standInColour(undefined, i, calls);
      assert.deepEqual(await pixel(grid.attachments[i + 1].bytes), [c.r, c.g, c.b], `image ${i + 1}`);
    }
    assert.equal(field(grid, 'Provider'), 'Imagen (Google)');
    assert.equal(field(grid, 'Model'), IMAGEN_MODEL);
    assert.equal(field(grid, 'Seeds'), 'picked by Imagen');
    assert.equal(field(grid, 'Size'), '80×56');
    assert.equal(field(grid, 'Steps'), undefined, 'Imagen has no steps');
    assert.match(description(grid), /Imagen has no 640×512; it drew at 4:3/);
    assert.deepEqual(
      grid.buttons.map((b) => b.label ?? b.emoji?.name),
      ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'ℹ️'],
    );
    const original = await run.waitForOriginal((m) => /✅ Done/.test(m.content), { timeoutMs: 10_000 });
    assert.ok(original.history.some((v) => v.content.includes(`🎨 Drawing with ${IMAGEN_MODEL}…`)), original.history.map((v) => v.content).join(' | '));
  });

  test('🔄 and V on an Imagen result ask Imagen again (V: the same prompt, Imagen has no image-to-image here)', async () => {
    const calls = google.predictCalls().length;
    const reroll = await h().discord.clickButton(grid, button(grid, '🔄'));
    await reroll.ack();
    const again = await replyTo(h(), grid, (m) => /New seeds/.test(m.history[0].content));
    assert.equal(field(again, 'Provider'), 'Imagen (Google)');
    assert.equal(again.attachments.length, 5);

    const v2 = await h().discord.clickButton(grid, button(grid, 'V2'));
    await v2.ack();
    const variation = await replyTo(h(), grid, (m) => /Variation of image 2/.test(m.content));
    assert.equal(field(variation, 'Provider'), 'Imagen (Google)');
    assert.equal((variation.embeds[0] as { title?: string }).title, 'Variation of image 2');
    assert.equal(field(variation, 'Strength'), undefined);

    const bodies = google.predictCalls().slice(calls).map((c) => c.body as { instances: { prompt: string }[]; parameters: { sampleCount: number } });
    assert.equal(bodies.length, 2);
    for (const b of bodies) {
      assert.deepEqual(b.instances, [{ prompt: 'a lighthouse at dusk' }]);
      assert.equal(b.parameters.sampleCount, 4);
    }
  });

  test('U on an Imagen result is a local upscale: with no local device it is refused, saying why', async () => {
    const calls = google.predictCalls().length;
    const click = await h().discord.clickButton(grid, button(grid, 'U1'));
    await click.ack();
    const note = await click.waitForFollowUp((m) => m.ephemeral, { timeoutMs: 10_000 });
    assert.match(note.content, /Upscaling runs on the local engine only\. This bot has no local device, so it cannot run it\./);
    assert.equal(google.predictCalls().length, calls);
  });
});

describe('policy imagen, with a local device and IMAGEN_DAILY_CAP=6', () => {
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'noop:0', NOOP_STEP_MS: '5', IMAGE_PROVIDER: 'imagen', IMAGEN_DAILY_CAP: '6' }));
  let first: ViewMessage;

  test('/imagine goes to Imagen although the local device is idle', async () => {
    const calls = google.predictCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'a red fox', size: '512x512', count: 2, model: 'tiny' });
    await run.ack();
    first = await resultIn(h().discord, run);
    assert.equal(field(first, 'Provider'), 'Imagen (Google)');
    assert.equal(field(first, 'Size'), '64×64');
    assert.equal(google.predictCalls().length, calls + 1);
  });

  test('U on an Imagen result is a local upscale job (no Imagen call)', async () => {
    const calls = google.predictCalls().length;
    const click = await h().discord.clickButton(first, button(first, 'U2'));
    await click.ack();
    const up = await replyTo(h(), first, (m) => /Upscale ×2 of image 2/.test(m.content));
    assert.equal(field(up, 'Provider'), undefined, 'drawn locally');
    assert.equal(field(up, 'Model'), 'Lanczos');
    assert.equal(field(up, 'Size'), '128×128');
    assert.equal(up.attachments[0].filename, 'image-2-x2.png');
    const [file] = up.attachments;
    assert.deepEqual(await imageSize(file.bytes), { width: 128, height: 128, format: 'png' });
    const c = standInColour(undefined, 1, calls - 1);
    assert.deepEqual(await pixel(file.bytes), [c.r, c.g, c.b], 'the upscale shows image 2');
    assert.equal(google.predictCalls().length, calls);
  });

  test('the daily cap counts images: at the cap, policy imagen refuses with a clear message', async () => {
    const run = await h().discord.slash('imagine', { prompt: 'four more', size: '512x512', count: 4, model: 'tiny' });
    await run.ack();
    const four = await resultIn(h().discord, run);
    assert.equal(field(four, 'Provider'), 'Imagen (Google)');
    // 2 + 4 = 6 images today: the cap.
    const calls = google.predictCalls().length;
    const over = await h().discord.slash('imagine', { prompt: 'one too many', size: '512x512', model: 'tiny' });
    assert.equal(
      await refusal(over),
      "⚠️ The bot's Imagen allowance for today is used up (6 images; it resets at 00:00 UTC).",
    );
    const reroll = await h().discord.clickButton(first, button(first, '🔄'));
    await reroll.ack();
    const note = await reroll.waitForFollowUp((m) => m.ephemeral, { timeoutMs: 10_000 });
    assert.match(note.content, /Imagen allowance for today is used up/);
    assert.equal(google.predictCalls().length, calls);
  });
});

describe('policy fallback with a local CPU device (IMAGEN_FALLBACK_WAIT_S=20, IMAGEN_DAILY_CAP=2)', () => {
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'cpu', IMAGE_PROVIDER: 'fallback', IMAGEN_FALLBACK_WAIT_S: '20', IMAGEN_DAILY_CAP: '2', IMAGINE_MAX_STEPS: '120' }));
  const long = { prompt: 'a long local job', steps: 120, size: '256x256', count: 4, model: 'tiny' };

  test('while the local wait is estimated above the threshold, the next job goes to Imagen; idle, jobs stay local', async () => {
    const busy = await h().discord.slash('imagine', long);
    await busy.ack();
    // Queued behind (or beside) a job estimated at minutes on a CPU: Imagen draws this one.
    const next = await h().discord.slash('imagine', { prompt: 'quick one', size: '512x512', model: 'tiny' }, { user: 'mod' });
    await next.ack();
    const [local, imagen] = await Promise.all([resultIn(h().discord, busy, 120_000), resultIn(h().discord, next)]);
    assert.equal(field(imagen, 'Provider'), 'Imagen (Google)');
    assert.equal(field(local, 'Provider'), undefined);
    assert.equal(field(local, 'Model'), 'tiny');

    const idle = await h().discord.slash('imagine', { prompt: 'idle device', steps: 2, size: '64x64', model: 'tiny' });
    await idle.ack();
    assert.equal(field(await resultIn(h().discord, idle), 'Provider'), undefined, 'drawn locally');
  });

  test('a local job that failed is re-run on Imagen, and the user sees why', async () => {
    const calls = google.predictCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'rescued', steps: 2, size: '64x64', model: 'broken' });
    await run.ack();
    const result = await resultIn(h().discord, run);
    assert.equal(field(result, 'Provider'), 'Imagen (Google)');
    assert.match(description(result), /the local engine failed \(Cannot load unet.*\), so Imagen drew this instead/);
    assert.equal(google.predictCalls().length, calls + 1);
    const original = await run.waitForOriginal((m) => /✅ Done/.test(m.content), { timeoutMs: 10_000 });
    assert.match(original.content, /✅ Done in \d+\.\d s \(by Imagen: the local engine failed\): the images are in the reply below\./);
    // (Status edits are throttled, so the "drawing with Imagen instead" line may be coalesced away.)
    assert.ok(!original.history.some((v) => /Generation failed/.test(v.content)), 'no failure was shown');
  });

  test('with the cap used up, fallback keeps jobs local: a failed job stays failed, a long wait stays queued with a note', async () => {
    const calls = google.predictCalls().length;
    const doomed = await h().discord.slash('imagine', { prompt: 'doomed', steps: 2, size: '64x64', model: 'broken' });
    await doomed.ack();
    const failed = await doomed.waitForOriginal((m) => /Generation failed/.test(m.content), { timeoutMs: 30_000 });
    assert.match(failed.content, /⚠️ Generation failed \(job `[0-9a-f-]{36}`\): Cannot load unet/);

    // A model never measured here, so its job is estimated at minutes again (tiny is fast, and measured by now).
    cpSync(join(h().modelsDir, 'tiny'), join(h().modelsDir, 'tiny-cold'), { recursive: true });
    const busy = await h().discord.slash('imagine', { ...long, model: 'tiny-cold' });
    await busy.ack();
    const next = await h().discord.slash('imagine', { prompt: 'waits its turn', steps: 2, size: '64x64', model: 'tiny' }, { user: 'mod' });
    await next.ack();
    const queued = await next.waitForOriginal((m) => /So this job waits for the local queue/.test(m.content), { timeoutMs: 10_000 });
    assert.match(queued.content, /⏳ Queued: .*\nThe bot's Imagen allowance for today is used up \(2 images; it resets at 00:00 UTC\)\. So this job waits for the local queue\./);
    const [, waited] = await Promise.all([resultIn(h().discord, busy, 120_000), resultIn(h().discord, next, 120_000)]);
    assert.equal(field(waited, 'Provider'), undefined);
    assert.equal(google.predictCalls().length, calls);
  });
});

describe('without GOOGLE_API_KEY', () => {
  const { h, bot } = withBot(() => ({ DEVICES: 'noop:0', NOOP_STEP_MS: '5', IMAGE_PROVIDER: 'fallback' }));

  test('Imagen is off: the log says so and every job runs locally', async () => {
    assert.match(bot().log, /GOOGLE_API_KEY is not set: Imagen is off, so every job runs on the local devices \(IMAGE_PROVIDER=fallback has no effect\)/);
    const calls = google.predictCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'local only', steps: 2, size: '64x64', model: 'tiny' });
    await run.ack();
    const result = await resultIn(h().discord, run);
    assert.equal(field(result, 'Provider'), undefined);
    assert.equal(google.predictCalls().length, calls);
  });

  test('with DEVICES=none too, /imagine says there is nothing to draw with', async () => {
    await bot().stop();
    const none = await h().startBot({ DEVICES: 'none', IMAGE_PROVIDER: 'local' });
    assert.match(none.log, /DEVICES=none and GOOGLE_API_KEY is not set: this bot cannot draw anything until one of them is set/);
    const run = await h().discord.slash('imagine', { prompt: 'anything', size: '64x64', model: 'tiny' });
    assert.equal(
      await refusal(run),
      '⚠️ This bot has no local device and Imagen is off (GOOGLE_API_KEY is not set): the bot owner needs to set DEVICES or GOOGLE_API_KEY.',
    );
  });
});

describe('a host with no model folder at all (DEVICES=none, MODELS_DIR empty)', () => {
  const emptyModels = mkdtempSync(join(tmpdir(), 'no-models-'));
  after(() => rmSync(emptyModels, { recursive: true, force: true }));
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'none', IMAGE_PROVIDER: 'fallback', MODELS_DIR: emptyModels }));

  test('/imagine without a model is drawn by Imagen at its own square size', async () => {
    const calls = google.predictCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'a cloud-only bot' });
    assert.equal((await run.ack()).typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
    const result = await resultIn(h().discord, run);
    assert.equal(google.predictCalls().length, calls + 1);
    assert.equal((google.predictCalls().at(-1)!.body as { parameters: { aspectRatio: string } }).parameters.aspectRatio, '1:1');
    assert.match(field(result, 'Provider') ?? '', /Imagen/);
  });
});

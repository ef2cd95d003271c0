// The cloud provider (Google's Gemini image models) and the provider policy end to end: the real
// bot process against the Discord stand-in, with the real @google/genai client talking to the
// Google stand-in's generateContent. Each block starts a bot with one environment (the policy
// comes from IMAGE_PROVIDER, as for a guild without settings) and its own DATA_DIR, so the
// cloud's daily counts start from zero.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import { geminiSize, standInColour, startGoogleStandIn, type GoogleStandIn } from '../support/google/index.js';
import {
  buttonId as button,
  embedField as field,
  imageSize,
  isResult,
  refusalOf,
  resultOf as resultIn,
  startHarness,
  type BotProcess,
  type Harness,
} from './harness.js';

const GEMINI_MODEL = 'Gemini 3.1 Flash Image (gemini-3.1-flash-image)';
const PROVIDER = 'Gemini (Google)';

type GenerateBody = {
  contents: { role: string; parts: { text?: string; inlineData?: { mimeType: string; data: string } }[] }[];
  generationConfig: { responseModalities: string[]; imageConfig: { aspectRatio: string; imageSize?: string }; thinkingConfig?: { thinkingLevel: string } };
};
const bodyOf = (c: { body: unknown }) => c.body as GenerateBody;

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

const description = (m: ViewMessage) => String((m.embeds[0] as { description?: string }).description ?? '');

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

describe("policy fallback on a bot without local devices (DEVICES=none), with an owner's old IMAGEN_MODEL=fast", () => {
  const { h, bot } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'none', IMAGE_PROVIDER: 'fallback', IMAGEN_MODEL: 'fast' }));
  let grid: ViewMessage;

  test('the old IMAGEN_MODEL=fast still works: Gemini 3.1 Flash Image at thinking level MINIMAL, and the log says to rename it', async () => {
    await bot().expectLog(/IMAGEN_MODEL is deprecated: rename it to GOOGLE_IMAGE_MODEL in \.env \(IMAGEN_MODEL=fast is used for now\)/);
  });

  test('/imagine is drawn by Gemini, one call per image, and comes back like a local result; the embed names provider and model, ratio, no seed', async () => {
    const calls = google.generateCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'a lighthouse at dusk', size: '640x448', count: 4, model: 'tiny' });
    assert.equal((await run.ack()).typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
    grid = await resultIn(h().discord, run);

    const sent = google.generateCalls().slice(calls);
    assert.equal(sent.length, 4, 'one generateContent call per image');
    for (const call of sent) {
      assert.equal(call.path, '/v1beta/models/gemini-3.1-flash-image:generateContent');
      assert.deepEqual(bodyOf(call), {
        contents: [{ role: 'user', parts: [{ text: 'a lighthouse at dusk' }] }],
        generationConfig: {
          responseModalities: ['IMAGE'],
          candidateCount: 1,
          thinkingConfig: { thinkingLevel: 'MINIMAL' },
          imageConfig: { aspectRatio: '3:2' },
        },
      });
    }

    // 3:2 at 1K / 16: Gemini's nearest ratio and size, not the requested 640×448.
    const [w, h1] = geminiSize('3:2').map((x) => x / 16);
    const files = await Promise.all(grid.attachments.map(async (a) => ({ name: a.filename, ...(await imageSize(a.bytes)) })));
    assert.deepEqual(
      files.map((f) => [f.name, f.format, f.width, f.height]),
      [
        ['grid.png', 'png', 2 * w, 2 * h1],
        ['image-1.png', 'png', w, h1],
        ['image-2.png', 'png', w, h1],
        ['image-3.png', 'png', w, h1],
        ['image-4.png', 'png', w, h1],
      ],
    );
    // The pixels are the ones Google sent (one colour per call; the calls run side by side).
    const expected = [0, 1, 2, 3].map((i) => standInColour(undefined, 0, calls + i)).map((c) => [c.r, c.g, c.b].join());
    const got = await Promise.all(grid.attachments.slice(1).map(async (a) => (await pixel(a.bytes)).join()));
    assert.deepEqual([...got].sort(), [...expected].sort());
    assert.equal(field(grid, 'Provider'), PROVIDER);
    assert.equal(field(grid, 'Model'), GEMINI_MODEL);
    assert.equal(field(grid, 'Seeds'), 'none (Gemini takes no seed)');
    assert.equal(field(grid, 'Size'), `${w}×${h1}`);
    assert.equal(field(grid, 'Steps'), undefined, 'Gemini has no steps');
    assert.match(description(grid), /Gemini takes an aspect ratio, not 640×448: it drew at 3:2 \(1K\)/);
    assert.match(description(grid), /no seed: Gemini image models take none/);
    assert.deepEqual(
      grid.buttons.map((b) => b.label ?? b.emoji?.name),
      ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'ℹ️'],
    );
    const original = await run.waitForOriginal((m) => /✅ Done/.test(m.content), { timeoutMs: 10_000 });
    assert.ok(
      original.history.some((v) => v.content.includes(`🎨 Drawing with ${GEMINI_MODEL}…`)),
      original.history.map((v) => v.content).join(' | '),
    );
  });

  test('🔄 asks Gemini again; V on a Gemini result is a real edit: that image and the prompt go to the model', async () => {
    const calls = google.generateCalls().length;
    const reroll = await h().discord.clickButton(grid, button(grid, '🔄'));
    await reroll.ack();
    const again = await replyTo(h(), grid, (m) => /New seeds/.test(m.history[0].content));
    assert.equal(field(again, 'Provider'), PROVIDER);
    assert.equal(again.attachments.length, 5);
    assert.equal(google.generateCalls().length, calls + 4);
    for (const c of google.generateCalls().slice(calls)) assert.equal(bodyOf(c).contents[0].parts.length, 1, 'a re-run sends no image');

    const v2 = await h().discord.clickButton(grid, button(grid, 'V2'));
    await v2.ack();
    const variation = await replyTo(h(), grid, (m) => /Variation of image 2/.test(m.content));
    assert.equal(field(variation, 'Provider'), PROVIDER);
    assert.equal((variation.embeds[0] as { title?: string }).title, 'Variation of image 2');
    assert.equal(field(variation, 'Strength'), undefined, 'Gemini has no strength');
    assert.match(description(variation), /an edit of the input image by Gemini/);

    const edits = google.generateCalls().slice(calls + 4);
    assert.equal(edits.length, 4);
    const image2 = await pixel(grid.attachments[2].bytes);
    for (const c of edits) {
      const [text, image] = bodyOf(c).contents[0].parts;
      assert.equal(text.text, 'a lighthouse at dusk');
      assert.equal(image.inlineData?.mimeType, 'image/png');
      assert.deepEqual(await pixel(Buffer.from(image.inlineData!.data, 'base64')), image2, 'the image sent is image 2');
    }
    // The stand-in answers an edit with its input's negative.
    assert.deepEqual(
      await pixel(variation.attachments[1].bytes),
      image2.map((v) => 255 - v),
    );
  });

  test('U on a Gemini result is a local upscale: with no local device it is refused, saying why', async () => {
    const calls = google.generateCalls().length;
    const click = await h().discord.clickButton(grid, button(grid, 'U1'));
    await click.ack();
    const note = await click.waitForFollowUp((m) => m.ephemeral, { timeoutMs: 10_000 });
    assert.match(note.content, /Upscaling runs on the local engine only\. This bot has no local device, so it cannot run it\./);
    assert.equal(google.generateCalls().length, calls);
  });

  test("a refusal is shown with the model's reason", async () => {
    google.enqueue({ kind: 'blocked', reason: 'PROHIBITED_CONTENT' });
    const run = await h().discord.slash('imagine', { prompt: 'something forbidden', size: '512x512', model: 'tiny' });
    await run.ack();
    const failed = await run.waitForOriginal((m) => /Generation failed/.test(m.content), { timeoutMs: 30_000 });
    assert.match(failed.content, /Gemini 3\.1 Flash Image \(gemini-3\.1-flash-image\) drew no image: Google blocked the prompt \(PROHIBITED_CONTENT\)/);
  });
});

describe('policy cloud (set as the old value IMAGE_PROVIDER=imagen), with a local device and IMAGEN_DAILY_CAP=6', () => {
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'noop:0', NOOP_STEP_MS: '5', IMAGE_PROVIDER: 'imagen', IMAGEN_DAILY_CAP: '6' }));
  let first: ViewMessage;

  test('/imagine goes to the cloud although the local device is idle', async () => {
    const calls = google.generateCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'a red fox', size: '512x512', count: 2, model: 'tiny' });
    await run.ack();
    first = await resultIn(h().discord, run);
    assert.equal(field(first, 'Provider'), PROVIDER);
    assert.equal(field(first, 'Size'), '32×32', '512×512 is drawn at the 512 size');
    assert.equal(google.generateCalls().length, calls + 2);
  });

  test('U on a cloud result is a local upscale job (no cloud call)', async () => {
    const calls = google.generateCalls().length;
    const click = await h().discord.clickButton(first, button(first, 'U2'));
    await click.ack();
    const up = await replyTo(h(), first, (m) => /Upscale ×2 of image 2/.test(m.content));
    assert.equal(field(up, 'Provider'), undefined, 'drawn locally');
    assert.equal(field(up, 'Model'), 'Lanczos');
    assert.equal(field(up, 'Size'), '64×64');
    assert.equal(up.attachments[0].filename, 'image-2-x2.png');
    const [file] = up.attachments;
    assert.deepEqual(await imageSize(file.bytes), { width: 64, height: 64, format: 'png' });
    assert.deepEqual(await pixel(file.bytes), await pixel(first.attachments[2].bytes), 'the upscale shows image 2');
    assert.equal(google.generateCalls().length, calls);
  });

  test('the daily cap counts images, not calls or tokens: at the cap, policy cloud refuses with a clear message', async () => {
    const run = await h().discord.slash('imagine', { prompt: 'four more', size: '512x512', count: 4, model: 'tiny' });
    await run.ack();
    const four = await resultIn(h().discord, run);
    assert.equal(field(four, 'Provider'), PROVIDER);
    // 2 + 4 = 6 images today: the cap.
    const calls = google.generateCalls().length;
    const over = await h().discord.slash('imagine', { prompt: 'one too many', size: '512x512', model: 'tiny' });
    assert.equal(await refusal(over), "⚠️ The bot's cloud allowance for today is used up (6 images; it resets at 00:00 UTC).");
    const reroll = await h().discord.clickButton(first, button(first, '🔄'));
    await reroll.ack();
    const note = await reroll.waitForFollowUp((m) => m.ephemeral, { timeoutMs: 10_000 });
    assert.match(note.content, /cloud allowance for today is used up/);
    assert.equal(google.generateCalls().length, calls);
  });

  test('/stats shows the cloud usage in images and the tokens Google billed for them', async () => {
    const run = await h().discord.slash('stats', {}, { user: 'mod' });
    await run.ack();
    const stats = await run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
    // 2 + 4 images: six calls at the stand-in's 12 prompt + 1290 output tokens (1342 in all) each.
    assert.match(
      stats.content,
      /\*\*Cloud \(Gemini\)\*\* 2 jobs, 6 images; 6 in the last 24 h\n• tokens billed: 8,052 \(72 prompt, 7,740 output\) over 6 calls/,
    );
  });
});

describe('policy fallback with a local CPU device (IMAGEN_FALLBACK_WAIT_S=20, IMAGEN_DAILY_CAP=2)', () => {
  const { h } = withBot((g) => ({
    ...imagenKey(g),
    DEVICES: 'cpu',
    IMAGE_PROVIDER: 'fallback',
    IMAGEN_FALLBACK_WAIT_S: '20',
    IMAGEN_DAILY_CAP: '2',
    IMAGINE_MAX_STEPS: '120',
  }));
  const long = { prompt: 'a long local job', steps: 120, size: '256x256', count: 4, model: 'tiny' };

  test('while the local wait is estimated above the threshold, the next job goes to the cloud; idle, jobs stay local', async () => {
    const busy = await h().discord.slash('imagine', long);
    await busy.ack();
    // Queued behind (or beside) a job estimated at minutes on a CPU: the cloud draws this one.
    const next = await h().discord.slash('imagine', { prompt: 'quick one', size: '512x512', model: 'tiny' }, { user: 'mod' });
    await next.ack();
    const [local, imagen] = await Promise.all([resultIn(h().discord, busy, 120_000), resultIn(h().discord, next)]);
    assert.equal(field(imagen, 'Provider'), PROVIDER);
    assert.equal(field(local, 'Provider'), undefined);
    assert.equal(field(local, 'Model'), 'tiny');

    const idle = await h().discord.slash('imagine', { prompt: 'idle device', steps: 2, size: '64x64', model: 'tiny' });
    await idle.ack();
    assert.equal(field(await resultIn(h().discord, idle), 'Provider'), undefined, 'drawn locally');
  });

  test('a local job that failed is re-run in the cloud, and the user sees why', async () => {
    const calls = google.generateCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'rescued', steps: 2, size: '64x64', model: 'broken' });
    await run.ack();
    const result = await resultIn(h().discord, run);
    assert.equal(field(result, 'Provider'), PROVIDER);
    assert.match(description(result), /the local engine failed \(Cannot load unet.*\), so Gemini drew this instead/);
    assert.equal(google.generateCalls().length, calls + 1);
    const original = await run.waitForOriginal((m) => /✅ Done/.test(m.content), { timeoutMs: 10_000 });
    assert.match(original.content, /✅ Done in (\d+ ms|\d+\.\d s) \(by Gemini: the local engine failed\): the images are in the reply below\./);
    // (Status edits are throttled, so the "Gemini draws this instead" line may be coalesced away.)
    assert.ok(!original.history.some((v) => /Generation failed/.test(v.content)), 'no failure was shown');
  });

  test('with the cap used up, fallback keeps jobs local: a failed job stays failed, a long wait stays queued with a note', async () => {
    const calls = google.generateCalls().length;
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
    assert.match(
      queued.content,
      /⏳ Queued: .*\nThe bot's cloud allowance for today is used up \(2 images; it resets at 00:00 UTC\)\. So this job waits for the local queue\./,
    );
    const [, waited] = await Promise.all([resultIn(h().discord, busy, 120_000), resultIn(h().discord, next, 120_000)]);
    assert.equal(field(waited, 'Provider'), undefined);
    assert.equal(google.generateCalls().length, calls);
  });
});

describe('without GOOGLE_API_KEY', () => {
  const { h, bot } = withBot(() => ({ DEVICES: 'noop:0', NOOP_STEP_MS: '5', IMAGE_PROVIDER: 'fallback' }));

  test('the cloud is off: the log says so and every job runs locally', async () => {
    await bot().expectLog(
      /GOOGLE_API_KEY is not set: the cloud provider \(Gemini\) is off, so every job runs on the local devices \(IMAGE_PROVIDER=fallback has no effect\)/,
    );
    const calls = google.generateCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'local only', steps: 2, size: '64x64', model: 'tiny' });
    await run.ack();
    const result = await resultIn(h().discord, run);
    assert.equal(field(result, 'Provider'), undefined);
    assert.equal(google.generateCalls().length, calls);
  });

  test('with DEVICES=none too, /imagine says there is nothing to draw with', async () => {
    await bot().stop();
    const none = await h().startBot({ DEVICES: 'none', IMAGE_PROVIDER: 'local' });
    await none.expectLog(/DEVICES=none and GOOGLE_API_KEY is not set: this bot cannot draw anything until one of them is set/);
    const run = await h().discord.slash('imagine', { prompt: 'anything', size: '64x64', model: 'tiny' });
    assert.equal(
      await refusal(run),
      '⚠️ This bot has no local device and the cloud provider is off (GOOGLE_API_KEY is not set): the bot owner needs to set DEVICES or GOOGLE_API_KEY.',
    );
  });
});

describe('a host with no model folder at all (DEVICES=none, MODELS_DIR empty)', () => {
  const emptyModels = mkdtempSync(join(tmpdir(), 'no-models-'));
  after(() => rmSync(emptyModels, { recursive: true, force: true }));
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'none', IMAGE_PROVIDER: 'fallback', MODELS_DIR: emptyModels }));

  test('/imagine without a model is drawn by Gemini at its own square size', async () => {
    const calls = google.generateCalls().length;
    const run = await h().discord.slash('imagine', { prompt: 'a cloud-only bot' });
    assert.equal((await run.ack()).typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE');
    const result = await resultIn(h().discord, run);
    assert.equal(google.generateCalls().length, calls + 1);
    assert.equal(bodyOf(google.generateCalls().at(-1)!).generationConfig.imageConfig.aspectRatio, '1:1');
    assert.match(field(result, 'Provider') ?? '', /Gemini/);
  });
});

describe('policy cloud with a local device: /imagine image: is an edit by the model', () => {
  const { h } = withBot((g) => ({ ...imagenKey(g), DEVICES: 'noop:0', NOOP_STEP_MS: '5', IMAGE_PROVIDER: 'cloud', GOOGLE_IMAGE_MODEL: 'standard' }));

  test('the attached image and the prompt go to Gemini (thinking HIGH for `standard`), not to local image-to-image', async () => {
    const input = await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 30, g: 160, b: 90 } } })
      .png()
      .toBuffer();
    const calls = google.generateCalls().length;
    const run = await h().discord.slash('imagine', {
      prompt: 'make it night',
      size: '768x512',
      model: 'tiny',
      image: { filename: 'in.png', bytes: input, contentType: 'image/png' },
    });
    await run.ack();
    const result = await resultIn(h().discord, run);
    const [call, ...more] = google.generateCalls().slice(calls);
    assert.deepEqual(more, []);
    const body = bodyOf(call);
    assert.equal(body.generationConfig.thinkingConfig?.thinkingLevel, 'HIGH');
    assert.equal(body.generationConfig.imageConfig.aspectRatio, '3:2');
    assert.equal(body.contents[0].parts[0].text, 'make it night');
    const sent = Buffer.from(body.contents[0].parts[1].inlineData!.data, 'base64');
    assert.deepEqual(await imageSize(sent), { width: 96, height: 64, format: 'png' });
    assert.equal(field(result, 'Provider'), PROVIDER);
    assert.equal(field(result, 'Model'), GEMINI_MODEL);
    assert.deepEqual(await pixel(result.attachments[0].bytes), [225, 95, 165], "the model's edit (the stand-in inverts its input)");
    assert.match(description(result), /an edit of the input image by Gemini/);
  });
});

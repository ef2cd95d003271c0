// End-to-end: the real bot process (`node --import tsx src/main.ts`, as `npm start` runs it)
// with the real job queue and a tiny model, against the Discord stand-in. Every check is what
// a Discord user would see: acks, progress edits, result messages, images, buttons.
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { after, before, describe, test } from 'node:test';
import { startDiscordStandIn, type DiscordStandIn, type InteractionContext, type InteractionHandle, type ViewMessage } from '../support/discord/index.js';
import { botEnv, createWorkspace, spawnBot, startBot, type BotProcess, type BotWorkspace } from './support/bot-process.js';
import { decodeAll, layoutDistance, pngsOfSize } from './support/images.js';
import { refusalOf } from './support/refusal.js';

const SIDE = 128;
const RESULT_TIMEOUT_MS = 60_000;

/** A finished job's message: an embed and images, no longer "thinking". */
const isResult = (m: ViewMessage) => !m.loading && !m.ephemeral && !m.deleted && m.embeds.length > 0 && m.attachments.length > 0;

const labelOf = (b: ViewMessage['buttons'][number]) => b.label ?? b.emoji?.name ?? '';

function seedsOf(m: ViewMessage): number[] {
  const field = m.embeds[0]?.fields?.find((f) => /seed/i.test(f.name));
  assert.ok(field, `the result embed names its seed(s): ${JSON.stringify(m.embeds[0])}`);
  return (field.value.match(/\d+/g) ?? []).map(Number);
}

describe('bot process against the Discord stand-in', { timeout: 240_000 }, () => {
  let discord: DiscordStandIn;
  let ws: BotWorkspace;
  let bot: BotProcess | undefined;
  let env: Record<string, string>;
  /** The 4-image /imagine result the button tests click on. */
  let grid: { handle: InteractionHandle; result: ViewMessage; images: Buffer[] } | undefined;

  const channelOf = (h: InteractionHandle) => h.channelId;

  /** The result of an /imagine: in the deferred reply, or in a channel message replying to it. */
  async function resultOf(handle: InteractionHandle): Promise<ViewMessage> {
    const original = await handle.waitForOriginal(() => true, { timeoutMs: 5000 });
    return discord.waitFor(
      () => discord.messages(channelOf(handle)).find((m) => (m.id === original.id || m.reference?.messageId === original.id) && isResult(m)),
      { timeoutMs: RESULT_TIMEOUT_MS, message: `the result of /imagine ${handle.id}` },
    );
  }

  /** Clicks a button (by label or emoji) and waits for the new result replying to `message`. */
  async function click(message: ViewMessage, label: string, ctx: InteractionContext = {}): Promise<{ handle: InteractionHandle; reply: ViewMessage }> {
    const button = message.buttons.find((b) => labelOf(b) === label);
    assert.ok(button?.customId, `message has a ${label} button (has: ${message.buttons.map(labelOf).join(' ')})`);
    const seen = new Set(discord.messages(message.channelId).map((m) => m.id));
    const handle = await discord.clickButton(message, button.customId, ctx);
    await handle.ack();
    const reply = await discord.waitFor(
      () => discord.messages(message.channelId).find((m) => !seen.has(m.id) && m.reference?.messageId === message.id && isResult(m)),
      { timeoutMs: RESULT_TIMEOUT_MS, message: `the result of ${label}` },
    );
    return { handle, reply };
  }

  before(async () => {
    discord = await startDiscordStandIn();
    ws = await createWorkspace();
    // The step ceiling raised so the first job lasts long enough for progress edits (every 200 ms).
    env = botEnv(discord, ws, { PROGRESS_EDIT_INTERVAL_MS: '200', IMAGINE_MAX_STEPS: '150' });
    bot = await startBot(discord, env);
  });

  after(async () => {
    await bot?.stop();
    await discord?.close();
    ws?.cleanup();
  });

  test('registers /imagine with all its options, prompt required, model autocompleted', () => {
    const imagine = [...discord.commands(), ...discord.commands(discord.guild().id)].find((c) => (c as { name: string }).name === 'imagine') as {
      options: { name: string; required?: boolean; type: number; autocomplete?: boolean }[];
    };
    const names = imagine.options.map((o) => o.name);
    for (const n of ['prompt', 'negative', 'seed', 'steps', 'guidance', 'size', 'count', 'model', 'scheduler', 'image', 'strength']) {
      assert.ok(names.includes(n), `option ${n} is registered (got ${names.join(', ')})`);
    }
    assert.equal(imagine.options.find((o) => o.name === 'prompt')?.required, true);
    assert.equal(imagine.options.find((o) => o.name === 'model')?.autocomplete, true);
  });

  test('connects with the Guilds intent only', () => {
    // The issue asks for Guilds (1 << 0) and nothing else.
    assert.equal(discord.gateway.identifies.at(-1)?.intents, 1);
  });

  test('/imagine is acked in under 3 s, shows progress, and ends with four PNGs, a grid and the buttons', async () => {
    const handle = await discord.slash('imagine', { prompt: 'a red fox in the snow', seed: 4242, steps: 150, size: `${SIDE}x${SIDE}`, count: 4 });
    const ack = await handle.ack();
    assert.ok(ack.latencyMs < 3000, `acked after ${ack.latencyMs} ms`);
    const result = await resultOf(handle);

    const original = handle.original()!;
    const progress = original.history.filter(
      (v) => /step\s*\d+\s*\/\s*\d+/i.test(v.content) || v.embeds.some((e) => /step\s*\d+\s*\/\s*\d+/i.test(JSON.stringify(e))),
    );
    assert.ok(progress.length >= 1, `a progress edit with the step count (versions: ${original.history.map((v) => v.content).join(' | ')})`);
    assert.ok(
      progress.some((v) => v.attachments.length > 0),
      'a progress edit carries the preview image',
    );

    const images = await pngsOfSize(result, SIDE, SIDE);
    assert.equal(images.length, 4, 'four full-size PNGs of the requested size');
    assert.ok(
      (await decodeAll(result)).some((d) => d.width === 2 * SIDE && d.height === 2 * SIDE),
      'a 2×2 grid',
    );
    const labels = result.buttons.map(labelOf);
    for (const l of ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'ℹ️']) assert.ok(labels.includes(l), `button ${l} (got ${labels.join(' ')})`);
    assert.ok(result.buttons.every((b) => (b.customId?.length ?? 0) <= 100));
    const embedText = JSON.stringify(result.embeds[0]);
    for (const want of ['a red fox in the snow', '4242', 'tiny', String(discord.user('alice').id)])
      assert.ok(embedText.includes(want), `embed mentions ${want}`);
    assert.deepEqual(seedsOf(result).slice(0, 1), [4242]);
    grid = { handle, result, images };
  });

  test('the final result is a channel message replying to the request, mentioning the requester', () => {
    assert.ok(grid, 'needs the /imagine result');
    const original = grid.handle.original()!;
    const finals = discord.messages(channelOf(grid.handle)).filter((m) => (m.id === original.id || m.reference?.messageId === original.id) && isResult(m));
    assert.equal(finals.length, 1, 'exactly one result message');
    assert.equal(finals[0].kind, 'channel');
    assert.equal(finals[0].reference?.messageId, original.id);
    assert.ok(finals[0].mentions.users.includes(discord.user('alice').id));
  });

  test('U2 upscales image 2 to twice its size, as a reply mentioning who clicked', async () => {
    assert.ok(grid, 'needs the /imagine result');
    const { reply } = await click(grid.result, 'U2', { user: 'mod' });
    const [up] = await pngsOfSize(reply, 2 * SIDE, 2 * SIDE);
    assert.ok(up, 'a PNG twice the size');
    const mod = discord.user('mod').id;
    // The ping happens when the reply is posted; later edits (progress, result) need not ping again.
    assert.ok(reply.content.includes(`<@${mod}>`) && reply.history.some((v) => v.mentions.users.includes(mod)), 'mentions the clicker');
    const toTwo = await layoutDistance(up, grid.images[1]);
    const toOne = await layoutDistance(up, grid.images[0]);
    assert.ok(toTwo < 3 && toTwo < toOne, `the upscale is of image 2 (distance ${toTwo} vs ${toOne} to image 1)`);
  });

  test('V3 makes a variation of image 3: different, with the same layout', async () => {
    assert.ok(grid, 'needs the /imagine result');
    const { reply } = await click(grid.result, 'V3');
    const [variation] = await pngsOfSize(reply, SIDE, SIDE);
    assert.ok(variation, 'a PNG of the same size');
    const own = await layoutDistance(variation, grid.images[2], SIDE);
    assert.ok(own > 2, `the variation differs from image 3 (mean abs diff ${own})`);
    const near = await layoutDistance(variation, grid.images[2]);
    const others = await Promise.all([0, 1, 3].map((i) => layoutDistance(variation, grid!.images[i])));
    const mean = others.reduce((a, b) => a + b, 0) / others.length;
    assert.ok(near < 0.92 * mean, `closer to image 3 (${near.toFixed(1)}) than to the other seeds (${others.map((d) => d.toFixed(1)).join(', ')})`);
    assert.notDeepEqual(seedsOf(reply), [4244], 'a new seed');
  });

  test('🔄 runs the same parameters with new seeds', async () => {
    assert.ok(grid, 'needs the /imagine result');
    const { reply } = await click(grid.result, '🔄');
    assert.equal((await pngsOfSize(reply, SIDE, SIDE)).length, 4);
    const before = new Set(seedsOf(grid.result));
    assert.ok(
      seedsOf(reply).every((s) => !before.has(s)),
      `new seeds (${seedsOf(reply)} vs ${[...before]})`,
    );
    assert.ok(JSON.stringify(reply.embeds[0]).includes('a red fox in the snow'));
  });

  test('a bad option gets an ephemeral message that says what is allowed', async () => {
    for (const size of ['banana', '4096x4096']) {
      const handle = await discord.slash('imagine', { prompt: 'a cat', size });
      await handle.ack();
      const reply = await refusalOf(handle);
      assert.equal(reply.ephemeral, true, `size ${size}: ephemeral`);
      assert.match(reply.content, /size/i);
      assert.match(reply.content, /square|WxH|\d+x\d+/i, `size ${size}: says what is allowed: ${reply.content}`);
      assert.equal(reply.attachments.length, 0);
    }
  });

  test('two users at once both get their images', async () => {
    const [a, b] = await Promise.all([
      discord.slash('imagine', { prompt: 'a lighthouse', steps: 12, size: `${SIDE}x${SIDE}` }, { user: 'alice' }),
      discord.slash('imagine', { prompt: 'a castle', steps: 12, size: `${SIDE}x${SIDE}` }, { user: 'mod' }),
    ]);
    await Promise.all([a.ack(), b.ack()]);
    const [ra, rb] = await Promise.all([resultOf(a), resultOf(b)]);
    assert.equal((await pngsOfSize(ra, SIDE, SIDE)).length, 1);
    assert.equal((await pngsOfSize(rb, SIDE, SIDE)).length, 1);
    assert.ok(JSON.stringify(ra.embeds).includes('a lighthouse') && ra.content.concat(JSON.stringify(ra.embeds)).includes(discord.user('alice').id));
    assert.ok(JSON.stringify(rb.embeds).includes('a castle') && rb.content.concat(JSON.stringify(rb.embeds)).includes(discord.user('mod').id));
  });

  test('model autocompletes from MODELS_DIR', async () => {
    const handle = await discord.autocomplete('imagine', { prompt: 'x', model: 'ti' }, 'model');
    const choices = await handle.choices();
    assert.ok(
      choices.some((c) => c.value === 'tiny'),
      `choices: ${JSON.stringify(choices)}`,
    );
  });

  test('an attached image is used for image-to-image', async () => {
    assert.ok(grid, 'needs the /imagine result');
    const handle = await discord.slash('imagine', {
      prompt: 'the same fox, at night',
      steps: 12,
      size: `${SIDE}x${SIDE}`,
      image: { filename: 'fox.png', bytes: grid.images[0], contentType: 'image/png' },
      strength: 0.3,
    });
    await handle.ack();
    const result = await resultOf(handle);
    const [out] = await pngsOfSize(result, SIDE, SIDE);
    assert.ok(out, 'one PNG of the requested size');
    // The tiny model's pictures all look alike, so "another image" is the input in negative.
    const near = await layoutDistance(out, grid.images[0]);
    const far = await layoutDistance(out, await sharp(grid.images[0]).negate({ alpha: false }).png().toBuffer());
    assert.ok(near < far, `keeps the input's layout (${near.toFixed(1)} vs ${far.toFixed(1)} to its negative)`);
  });

  test('❌ cancels a running job for its requester only', async () => {
    const handle = await discord.slash('imagine', { prompt: 'a very slow painting', steps: 50, size: '512x512', count: 4 });
    await handle.ack();
    const running = await handle.waitForOriginal((m) => /step\s*\d+/i.test(m.content) && m.buttons.some((b) => labelOf(b) === '❌'), {
      timeoutMs: 30_000,
    });
    const cancel = running.buttons.find((b) => labelOf(b) === '❌')!.customId!;

    // Another member without moderator permissions.
    const refused = await discord.clickButton(running, cancel, { user: 'mod', memberPermissions: ['ViewChannel', 'SendMessages'] });
    await refused.ack();
    const refusal = await discord.waitFor(() => refused.messages().find((m) => m.ephemeral && m.content.length > 0), {
      timeoutMs: 10_000,
      message: "the refusal of mod's ❌",
    });
    assert.match(refusal.content, /only|requester|<@/i, refusal.content);

    const own = await discord.clickButton(running, cancel, { user: 'alice' });
    await own.ack();
    const original = running.id;
    const cancelled = await discord.waitFor(
      () => discord.messages(channelOf(handle)).find((m) => (m.id === original || m.reference?.messageId === original) && /cancel/i.test(m.content)),
      { timeoutMs: 20_000, message: 'the cancellation notice' },
    );
    assert.equal(cancelled.embeds.length, 0, 'no result after a cancel');
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(
      !discord.messages(channelOf(handle)).some((m) => (m.id === original || m.reference?.messageId === original) && isResult(m)),
      'no images are posted',
    );
  });

  test('an image too big for the upload limit comes as high-quality WebP within the limit', async () => {
    const limit = 150_000;
    const handle = await discord.slash('imagine', { prompt: 'a detailed map', steps: 8, size: '512x512' }, { attachmentSizeLimit: limit });
    await handle.ack();
    const result = await resultOf(handle);
    const decoded = await decodeAll(result);
    const full = decoded.filter((d) => d.width === 512 && d.height === 512);
    assert.equal(full.length, 1, `one 512×512 image (${decoded.map((d) => `${d.format} ${d.width}x${d.height}`).join(', ')})`);
    assert.equal(full[0].format, 'webp', 'the PNG would not fit');
    assert.ok(
      decoded.every((d) => d.attachment.size <= limit),
      'every file fits the limit',
    );
  });

  test('after a restart, the buttons of an earlier result still work', async () => {
    assert.ok(grid, 'needs the /imagine result');
    assert.ok(bot);
    const registrations = discord.commandRegistrations.length;
    assert.ok(registrations >= 1, 'the first start registered the commands');
    await bot.stop();
    bot = await startBot(discord, env);
    assert.equal(discord.commandRegistrations.length, registrations, 'unchanged commands are not registered again');
    const { reply } = await click(grid.result, 'U1');
    assert.equal((await pngsOfSize(reply, 2 * SIDE, 2 * SIDE)).length, 1);

    const info = await discord.clickButton(grid.result, grid.result.buttons.find((b) => labelOf(b) === 'ℹ️')!.customId!);
    await info.ack();
    const text = await discord.waitFor(
      () => [...info.messages(), ...discord.messages(channelOf(grid!.handle), { visibleTo: 'alice' })].find((m) => m.ephemeral && m.content.includes('4242')),
      { timeoutMs: 10_000, message: 'the ephemeral ℹ️ answer' },
    );
    assert.match(text.content, /a red fox in the snow/);
    assert.match(text.content, /150/, 'the steps');
  });

  test('a job finishing after the 15-minute token life is posted to the channel, mentioning the requester', async () => {
    const handle = await discord.slash('imagine', { prompt: 'a slow sunset', steps: 40, size: `${SIDE}x${SIDE}`, count: 2 });
    await handle.ack();
    discord.clock.advance(16 * 60_000);
    const original = handle.original()!;
    const result = await resultOf(handle);
    assert.ok(result.createdAt - original.createdAt > 15 * 60_000 || result.id !== original.id, 'posted after the token died');
    assert.equal(result.kind, 'channel');
    assert.equal(result.reference?.messageId, original.id);
    assert.ok(result.mentions.users.includes(discord.user('alice').id), 'mentions the requester');
    assert.equal((await pngsOfSize(result, SIDE, SIDE)).length, 2);
    assert.deepEqual(discord.unhandledRequests(), []);
    assert.deepEqual(discord.errors, []);
  });
});

describe('bot process start-up and registration', { timeout: 60_000 }, () => {
  test('a missing or malformed token stops the bot with one sentence, not a stack trace', async () => {
    for (const token of ['', 'not-a-token']) {
      const bot = spawnBot({ DISCORD_TOKEN: token, DATA_DIR: '/nonexistent-bot-data', MODELS_DIR: '/nonexistent-models', LOG_LEVEL: 'warn' });
      const code = await bot.exited;
      const out = bot.output().trim();
      assert.notEqual(code, 0, `token "${token}": exits with an error`);
      assert.match(out, /DISCORD_TOKEN/);
      assert.doesNotMatch(out, /^\s+at /m, `no stack trace:\n${out}`);
      assert.ok(out.split('\n').length <= 2, `one sentence:\n${out}`);
    }
  });

  test('npm run register puts the commands in DEV_GUILD_ID; the bot then leaves them alone', async () => {
    const discord = await startDiscordStandIn();
    const ws = await createWorkspace();
    let bot: BotProcess | undefined;
    try {
      const env = botEnv(discord, ws, { DEV_GUILD_ID: discord.guild().id });
      const register = spawnBot(env, 'src/bot/register-cli.ts');
      assert.equal(await register.exited, 0, register.output());
      assert.ok(
        discord.commands(discord.guild().id).some((c) => (c as { name: string }).name === 'imagine'),
        'registered in the guild',
      );
      assert.deepEqual(discord.commands(), [], 'not globally');
      const registrations = discord.commandRegistrations.length;
      bot = await startBot(discord, env);
      assert.equal(discord.commandRegistrations.length, registrations, 'the bot sees the stored hash and does not register again');
    } finally {
      await bot?.stop();
      await discord.close();
      ws.cleanup();
    }
  });

  test('a token Discord refuses stops the bot with one sentence', async () => {
    const discord = await startDiscordStandIn();
    const ws = await createWorkspace();
    try {
      const wrong = discord.token.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'));
      const bot = spawnBot({ ...botEnv(discord, ws), DISCORD_TOKEN: wrong });
      const timer = setTimeout(() => bot.child.kill('SIGKILL'), 30_000);
      const code = await bot.exited;
      clearTimeout(timer);
      const out = bot.output().trim();
      assert.notEqual(code, 0);
      assert.match(out, /token/i);
      assert.doesNotMatch(out, /^\s+at /m, `no stack trace:\n${out}`);
    } finally {
      await discord.close();
      ws.cleanup();
    }
  });
});

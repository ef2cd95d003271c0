// Personal defaults and remix, end to end: the real bot process against the Discord stand-in
// with the tiny model. /prefs values apply to /imagine, explicit options win, a server's limits
// clamp them; with remix on, V, 🔄 and Vary (Subtle) after U open a form prefilled with the
// prompts and the edited prompt is what runs; prefs and an open remix form survive a restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { InteractionContext, InteractionHandle, SlashOptions, ViewMessage } from '../support/discord/index.js';
import { buttonId as button, imageSize, isResult, resultOf as resultIn, startHarness, type BotProcess, type Harness } from './harness.js';

let h: Harness;
let bot: BotProcess;
const ENV = { IMAGINE_MAX_STEPS: '50', VARY_SUBTLE_STRENGTH: '0.4' };

before(async () => {
  const guild = DEFAULT_GUILDS[0];
  h = await startHarness({ guilds: [{ ...guild, members: [...(guild.members ?? []), { username: 'bob' }] }] });
  bot = await h.startBot(ENV);
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

const resultOf = (run: InteractionHandle) => resultIn(h.discord, run, 60_000);

async function ask(command: string, options: SlashOptions = {}, ctx: InteractionContext = {}): Promise<string> {
  const run = await h.discord.slash(command, options, ctx);
  await run.ack();
  const reply = await run.waitForOriginal(() => true, { timeoutMs: 10_000 });
  return reply.content;
}

async function info(m: ViewMessage, user = 'alice'): Promise<string> {
  const click = await h.discord.clickButton(m, button(m, 'ℹ️'), { user });
  await click.ack();
  return (await click.waitForOriginal(() => true))!.content;
}

/** The result a remix form (or a button) produces: a channel message replying to `to`. */
function replyTo(to: ViewMessage): Promise<ViewMessage> {
  return h.discord.waitForMessage('general', (m) => m.reference?.messageId === to.id && isResult(m), { timeoutMs: 60_000 });
}

test('/prefs values fill the options left empty, explicit options win, and the server’s limits clamp them', async () => {
  const saved = await ask('prefs set', { count: 4, size: '256x192', negative: 'blurry, text' });
  assert.match(saved, /Saved/);
  assert.match(saved, /images per job\*\*: 4/);
  // The server allows 2 images and 128 px: the defaults are shrunk to fit, never refused.
  await ask('settings limits', { max_images: 2, max_size: 128 }, { user: 'owner' });
  const view = await ask('prefs view');
  assert.match(view, /images per job\*\*: 4 — this server allows 2, so 2/);
  assert.match(view, /size\*\*: 256x192 — shrunk to fit this server's largest side, 128 px/);
  assert.match(view, /negative prompt\*\*: blurry, text/);

  const run = await h.discord.slash('imagine', { prompt: 'a lighthouse at dusk', steps: 2 });
  await run.ack();
  const result = await resultOf(run);
  const files = result.attachments.filter((a) => !a.filename.startsWith('grid'));
  assert.equal(files.length, 2, 'count 4 clamped to the server’s 2');
  for (const f of files) assert.deepEqual(await imageSize(f.bytes).then(({ width, height }) => ({ width, height })), { width: 128, height: 64 });
  assert.match(await info(result), /\*\*Negative\*\* blurry, text/);

  // Explicit options win over the defaults.
  const explicit = await h.discord.slash('imagine', { prompt: 'a lighthouse at noon', steps: 2, count: 1, size: '64x64', negative: 'fog' });
  await explicit.ack();
  const one = await resultOf(explicit);
  assert.equal(one.attachments.length, 1);
  assert.deepEqual(await imageSize(one.attachments[0].bytes).then(({ width, height }) => ({ width, height })), { width: 64, height: 64 });
  assert.match(await info(one), /\*\*Negative\*\* fog/);

  // Another user's defaults are theirs alone.
  const bobs = await h.discord.slash('imagine', { prompt: 'bob draws a boat', steps: 2, size: '64x64' }, { user: 'bob' });
  await bobs.ack();
  assert.equal((await resultOf(bobs)).attachments.length, 1);

  // A bad size is refused when set, with what is allowed.
  assert.match(await ask('prefs set', { size: '100x100' }), /multiples of 64/);
  assert.match(await ask('prefs clear', { which: 'count' }), /Forgot your images per job/);
  await ask('settings reset', {}, { user: 'owner' });
});

test('stealth: results only the requester sees, where the server allows it (off by default)', async () => {
  await ask('prefs set', { stealth: true });
  assert.match(await ask('prefs view'), /stealth\*\*: on — but this server does not allow private results/);
  const publicRun = await h.discord.slash('imagine', { prompt: 'a public lantern', steps: 2, size: '64x64', count: 1 });
  await publicRun.ack();
  assert.ok(!(await resultOf(publicRun)).ephemeral);

  assert.match(await ask('settings safety stealth', { allowed: true }, { user: 'owner' }), /Private results: \*\*allowed\*\*/);
  assert.match(await ask('prefs view'), /stealth\*\*: on — your \/imagine results here are messages only you see/);
  const run = await h.discord.slash('imagine', { prompt: 'a secret lantern', steps: 2, size: '64x64', count: 1 });
  assert.equal(((await run.ack()).data as { flags?: number } | undefined)?.flags, 64, 'deferred ephemerally');
  const result = await run.waitForOriginal((m) => m.attachments.length > 0 && m.embeds.length > 0, { timeoutMs: 60_000 });
  assert.ok(result.ephemeral);
  assert.ok(result.buttons.length > 0);
  const everyone = h.discord.messages('general').map((m) => m.content);
  assert.ok(!everyone.some((c) => c.includes('a secret lantern')), 'nobody else sees it');
  assert.ok(h.discord.messages('general', { visibleTo: 'alice' }).some((m) => m.id === result.id));
  await ask('prefs clear', { which: 'stealth' });
  await ask('settings reset', {}, { user: 'owner' });
});

let remixSource: ViewMessage;

test('remix on: V opens a form prefilled with the prompts; the edited prompt runs, with its lineage in ℹ️', async () => {
  await ask('prefs set', { remix: true, size: '64x64', count: 2 });
  const run = await h.discord.slash('imagine', { prompt: 'a red bicycle', negative: 'rust', steps: 2 });
  await run.ack();
  remixSource = await resultOf(run);

  const click = await h.discord.clickButton(remixSource, button(remixSource, 'V2'));
  const ack = await click.ack();
  assert.equal(ack.typeName, 'MODAL');
  const modal = await click.modal();
  assert.match(String(modal.custom_id), /^rmx:img:V:[\w-]+:1$/);
  const inputs = JSON.stringify(modal.components);
  assert.match(inputs, /"value":"a red bicycle"/);
  assert.match(inputs, /"value":"rust"/);
  // Nothing is queued before the form comes back.
  assert.equal(h.discord.messages('general').filter((m) => m.reference?.messageId === remixSource.id).length, 0);

  const submit = await h.discord.submitModal(click, { prompt: 'a blue bicycle on a beach', negative: 'sand' });
  await submit.ack();
  const remixed = await replyTo(remixSource);
  assert.match(remixed.content, /a blue bicycle on a beach/);
  assert.match(remixed.content, /Remix of image 2/);
  const text = await info(remixed);
  assert.match(text, /\*\*Prompt\*\* a blue bicycle on a beach/);
  assert.match(text, /\*\*Negative\*\* sand/);
  assert.match(text, /\*\*From\*\* Remix \(prompt edited\) of image 2 of job `[\w-]+`/);
  assert.match(text, /img2img/);

  // 🔄 opens the form too; someone with remix off gets the plain button.
  const reroll = await h.discord.clickButton(remixSource, button(remixSource, '🔄'));
  assert.equal((await reroll.ack()).typeName, 'MODAL');
  const byBob = await h.discord.clickButton(remixSource, button(remixSource, '🔄'), { user: 'bob' });
  assert.equal((await byBob.ack()).typeName, 'DEFERRED_UPDATE_MESSAGE');
  // An empty prompt is refused by the form itself (required); a forged blank one by the bot.
  const blank = await h.discord.submitModal(reroll, { prompt: '   ' }, { skipClientChecks: true });
  await blank.ack();
  const refusal = await blank.waitForOriginal(() => true);
  assert.ok(refusal.ephemeral);
  assert.match(refusal.content, /prompt must not be empty/);
});

test('prefs and an open remix form survive a restart', async () => {
  const click = await h.discord.clickButton(remixSource, button(remixSource, 'V1'));
  assert.equal((await click.ack()).typeName, 'MODAL');
  const before = h.discord.messages('general').filter((m) => m.reference?.messageId === remixSource.id).length;
  assert.equal(await bot.stop(), 0);
  bot = await h.startBot(ENV);

  const submit = await h.discord.submitModal(click, { prompt: 'a green bicycle after the restart', negative: '' });
  await submit.ack();
  const remixed = await h.discord.waitForMessage(
    'general',
    (m) => m.reference?.messageId === remixSource.id && isResult(m) && m.content.includes('a green bicycle after the restart'),
    { timeoutMs: 60_000 },
  );
  assert.ok(h.discord.messages('general').filter((m) => m.reference?.messageId === remixSource.id).length > before);
  assert.match(remixed.content, /Remix of image 1/);
  assert.doesNotMatch(await info(remixed), /\*\*Negative\*\*/);

  const view = await ask('prefs view');
  assert.match(view, /remix\*\*: on/);
  assert.match(view, /size\*\*: 64x64/);
});

test('remix on: after U, Vary (Subtle) opens the form prefilled; the edited prompt is what varies, at VARY_SUBTLE_STRENGTH', async () => {
  const u = await h.discord.clickButton(remixSource, button(remixSource, 'U1'));
  assert.equal((await u.ack()).typeName, 'DEFERRED_UPDATE_MESSAGE', 'U opens no form');
  const upscaled = await h.discord.waitForMessage(
    'general',
    (m) => m.reference?.messageId === remixSource.id && isResult(m) && /Upscale ×2 of image 1/.test(m.content),
    {
      timeoutMs: 60_000,
    },
  );

  const click = await h.discord.clickButton(upscaled, button(upscaled, 'Vary (Subtle)'));
  assert.equal((await click.ack()).typeName, 'MODAL');
  const modal = await click.modal();
  assert.match(String(modal.custom_id), /^rmx:/);
  const inputs = JSON.stringify(modal.components);
  assert.match(inputs, /"value":"a red bicycle"/);
  assert.match(inputs, /"value":"rust"/);
  assert.equal(h.discord.messages('general').filter((m) => m.reference?.messageId === upscaled.id).length, 0, 'nothing queued before the form comes back');

  const submit = await h.discord.submitModal(click, { prompt: 'a red tandem bicycle in the snow', negative: 'mud' });
  await submit.ack();
  const varied = await replyTo(upscaled);
  assert.match(varied.content, /Vary \(Subtle\) of image 1/);
  assert.match(varied.embeds[0].description ?? '', /a red tandem bicycle in the snow/);
  const strength = (varied.embeds[0] as { fields?: { name: string; value: string }[] }).fields?.find((f) => f.name === 'Strength')?.value;
  assert.equal(strength, '0.4');
  const text = await info(varied);
  assert.match(text, /\*\*Prompt\*\* a red tandem bicycle in the snow/);
  assert.match(text, /\*\*Negative\*\* mud/);
  assert.doesNotMatch(text, /a red bicycle\b/, 'the old prompt does not run');
});

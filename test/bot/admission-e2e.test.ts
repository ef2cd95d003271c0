// The admission check end to end: the real bot process against the Discord stand-in. Limits per
// job, cooldowns, hourly and daily quotas, channel restrictions and blocked words, each refused
// with a message naming the limit (and the next slot), for /imagine and for buttons alike; the
// counters come from the jobs table, so they survive restarts and roll over with the clock.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { InteractionContext, SlashOptions, ViewMessage } from '../support/discord/index.js';
import { refusalOf, resultOf, startHarness, type BotProcess, type Harness } from './harness.js';

const BOT_ENV = { DEVICES: 'noop:0', NOOP_STEP_MS: '2' };
let h: Harness;
let bot: BotProcess;

before(async () => {
  const guild = DEFAULT_GUILDS[0];
  const extra = ['bob', 'carol', 'dave', 'erin', 'frank'].map((username) => ({ username }));
  h = await startHarness({ guilds: [{ ...guild, members: [...(guild.members ?? []), ...extra] }] });
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

/** An admin change; returns the confirmation. */
async function set(command: string, options: SlashOptions = {}): Promise<string> {
  const run = await h.discord.slash(`settings ${command}`, options, { user: 'mod' });
  await run.ack();
  const m = await run.waitForOriginal((x) => !x.loading, { timeoutMs: 10_000 });
  assert.match(m.content, /^✅/, `settings ${command}: ${m.content}`);
  return m.content;
}

/** /imagine that must be accepted: returns its result. */
async function imagine(user: string, options: SlashOptions, ctx: InteractionContext = {}): Promise<ViewMessage> {
  const run = await h.discord.slash('imagine', { steps: 5, size: '64x64', ...options }, { user, ...ctx });
  const ack = await run.ack();
  assert.equal(ack.typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE', `${user}'s /imagine was refused: ${(await run.original())?.content}`);
  return resultOf(h.discord, run);
}

/** /imagine that must be refused: returns the ephemeral refusal, after checking nobody else sees it. */
async function refused(user: string, options: SlashOptions, ctx: InteractionContext = {}): Promise<string> {
  const run = await h.discord.slash('imagine', { steps: 5, size: '64x64', ...options }, { user, ...ctx });
  const ack = await run.ack();
  assert.equal(ack.typeName, 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE', 'deferred at once; the checks come after');
  const m = await refusalOf(run);
  assert.ok(m.ephemeral, 'refusals are ephemeral');
  return m.content;
}

/** Clicks a result's button; returns the ephemeral note the clicker gets. */
async function clickRefused(result: ViewMessage, label: string, user: string): Promise<string> {
  const b = result.buttons.find((x) => x.label === label || x.emoji?.name === label);
  assert.ok(b?.customId, `no ${label} button`);
  const click = await h.discord.clickButton(result, b.customId, { user });
  await click.ack();
  return (await click.waitForFollowUp((m) => m.ephemeral, { timeoutMs: 10_000 })).content;
}

let foxGrid: ViewMessage;

test('per-job limits hold for /imagine and for buttons', async () => {
  foxGrid = await imagine('bob', { prompt: 'a red fox', count: 4 });
  assert.match(await set('limits', { max_images: 2, max_steps: 4 }), /max steps 4, max images per job 2/);
  const typed = await refused('bob', { prompt: 'four please', count: 4 });
  assert.match(typed, /count\*\* must be between 1 and 2 on this server/);
  assert.match(typed, /steps\*\* must be between 1 and 4 on this server/);
  // 🔄 re-runs the stored 4-image, 5-step job: the same check refuses it.
  assert.equal(await clickRefused(foxGrid, '🔄', 'bob'), '🚫 This server allows at most 4 steps; this job asks for 5.');
  await set('limits', { max_steps: 0 });
  assert.equal(await clickRefused(foxGrid, '🔄', 'bob'), '🚫 This server allows at most 2 images per job; this job asks for 4.');
  await set('reset', { section: 'limits' });
});

test('a cooldown refuses the next job with the time to the next slot', async () => {
  assert.match(await set('limits', { cooldown: 600 }), /cooldown 10 min/);
  const first = await imagine('carol', { prompt: 'first' });
  assert.equal(await refused('carol', { prompt: 'second' }), '⏳ One job every 10 min on this server: next slot in 10 min.');
  assert.equal(await clickRefused(first, '🔄', 'carol'), '⏳ One job every 10 min on this server: next slot in 10 min.');
  await imagine('alice', { prompt: 'someone else is not held back' });
  await set('limits', { cooldown: 0 });
  await imagine('carol', { prompt: 'cooldown lifted' });
});

test('channel restrictions: deny one channel, or allow only some', async () => {
  const general = h.discord.channel('general').id;
  const art = h.discord.channel('nsfw-art').id;
  assert.match(await set('channels deny', { channel: 'general' }), new RegExp(`/imagine is off in <#${general}>`));
  assert.equal(await refused('frank', { prompt: 'here?' }), "🚫 /imagine is turned off in this channel by the server's admins.");
  const there = await imagine('frank', { prompt: 'over there' }, { channel: 'nsfw-art' });

  assert.match(await set('channels allow', { channel: 'general' }), new RegExp(`/imagine works in <#${general}> again`));
  const back = await imagine('frank', { prompt: 'back here' });

  assert.match(await set('channels allow', { channel: 'nsfw-art' }), new RegExp(`/imagine works only in <#${art}> now`));
  assert.equal(await refused('frank', { prompt: 'here again?' }), `🚫 /imagine is turned off in this channel by the server's admins; use <#${art}>.`);
  assert.match(await clickRefused(back, 'U1', 'frank'), /turned off in this channel/);
  await imagine('frank', { prompt: 'still fine there' }, { channel: 'nsfw-art' });
  assert.ok(there);
  await set('reset', { section: 'channels' });
  await imagine('frank', { prompt: 'everywhere again' });
});

test('blocked words and phrases: whole words, any case, for prompts typed and re-run', async () => {
  assert.match(await set('safety block', { phrase: 'red fox' }), /"red fox"/);
  assert.equal(
    await refused('bob', { prompt: 'A RED   fox at dawn' }),
    '🚫 Your prompt contains "red fox", which this server blocks; rephrase it and try again.',
  );
  assert.ok(!h.discord.messages('general').some((m) => /RED {3}fox at dawn/.test(m.content)), 'the prompt was not posted');
  assert.equal(await clickRefused(foxGrid, '🔄', 'bob'), '🚫 Your prompt contains "red fox", which this server blocks; rephrase it and try again.');
  await imagine('bob', { prompt: 'a redfox, a reddish fox' });
  await set('safety unblock', { phrase: 'Red Fox' });
  await imagine('bob', { prompt: 'a red fox again' });
});

test('hourly jobs and daily images per user, with the next slot', async () => {
  assert.match(await set('limits', { jobs_per_hour: 2, images_per_day: 5 }), /jobs per user per hour 2, images per user per day 5/);
  await imagine('dave', { prompt: 'one' });
  await imagine('dave', { prompt: 'two' });
  assert.match(await refused('dave', { prompt: 'three' }), /^⏳ 2 jobs per hour: next slot in (59 min|1 h)\.$/);

  await imagine('erin', { prompt: 'four images', count: 4 });
  assert.match(await refused('erin', { prompt: 'two more', count: 2 }), /^⏳ 5 images per day: next slot in 24 h \(or ask for 1 now\)\.$/);
  await imagine('erin', { prompt: 'the last one' });
  assert.match(await refused('erin', { prompt: 'too many jobs' }), /^⏳ 2 jobs per hour: next slot in (59 min|1 h)\.$/);
});

test('quotas survive a restart and open again when their window has passed', async () => {
  assert.equal(await bot.stop(), 0);
  bot = await h.startBot(BOT_ENV);
  assert.match(await refused('dave', { prompt: 'after restart' }), /^⏳ 2 jobs per hour: next slot in (59 min|1 h)\.$/);

  // An hour and a minute later, on Discord's clock and the bot's.
  const later = 61 * 60_000;
  assert.equal(await bot.stop(), 0);
  h.discord.clock.advance(later);
  bot = await h.startBot({ ...BOT_ENV, BOT_CLOCK_OFFSET_MS: String(later) });
  await imagine('dave', { prompt: 'a new hour' });
  assert.match(await refused('erin', { prompt: 'a new hour?' }), /^⏳ 5 images per day: next slot in 22 h 5\d min\.$/);
});

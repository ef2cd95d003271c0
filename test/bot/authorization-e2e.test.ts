// Who may act on a job, end to end: a job belongs to the server it was asked for in. A
// moderator of another server who sends its button ids (a modified client can send any
// custom_id) or names its id in /cancel finds nothing; /settings autocomplete answers admins
// only; every command is registered for servers only (no DM bypass of a server's settings).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DEFAULT_GUILDS } from '../support/discord/options.js';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import { encodeCustomId, parseCustomId } from '../../src/bot/custom-id.js';
import { resultOf, startHarness, type Harness } from './harness.js';

// Simulated devices: a 150-step job runs 6 s (40 ms a step), long enough to be cancelled.
const BOT_ENV = { DEVICES: 'noop:0', NOOP_STEP_MS: '40', IMAGINE_MAX_STEPS: '150' };
const GONE = /no longer stored/;
let h: Harness;

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
  await h.startBot(BOT_ENV);
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

const mallory = { user: 'mallory', channel: 'elsewhere', skipClientChecks: true };

/** Mallory sends `customId` as a click on her own result in her own server; returns what only she sees. */
async function forgedClick(on: ViewMessage, customId: string): Promise<string> {
  const click = await h.discord.clickButton(on, customId, mallory);
  await click.ack();
  const answer = await h.discord.waitFor(() => click.messages().find((m) => m.ephemeral && !m.loading), {
    timeoutMs: 10_000,
    message: 'the answer to the forged click',
  });
  return answer.content;
}

const jobIdOf = (m: ViewMessage) => parseCustomId(m.buttons.find((b) => b.customId?.startsWith('img:'))!.customId!)!.jobId;

let aliceResult: ViewMessage;
let malloryResult: ViewMessage;
let aliceRunning: InteractionHandle;

test('setup: a finished and a running job in one server, a result in the other', async () => {
  const done = await h.discord.slash('imagine', { prompt: 'alice secret prompt', steps: 5, size: '64x64', count: 2 }, { user: 'alice' });
  await done.ack();
  aliceResult = await resultOf(h.discord, done);
  const mine = await h.discord.slash('imagine', { prompt: 'mallory picture', steps: 5, size: '64x64' }, { user: 'mallory', channel: 'elsewhere' });
  await mine.ack();
  malloryResult = await resultOf(h.discord, mine);
  // 128² so it is still running (its ❌ shown) when the next tests click.
  aliceRunning = await h.discord.slash('imagine', { prompt: 'alice long job', steps: 150, size: '128x128' }, { user: 'alice' });
  await aliceRunning.ack();
  await aliceRunning.waitForOriginal((m) => m.buttons.some((b) => b.emoji?.name === '❌'), { timeoutMs: 10_000 });
});

test("❌ with another server's job id cancels nothing, even for that server's moderator", async () => {
  const cancel = aliceRunning.original()!.buttons.find((b) => b.emoji?.name === '❌')!.customId!;
  assert.match(await forgedClick(malloryResult, cancel), GONE);
  // A cancelled job posts no result.
  const result = await resultOf(h.discord, aliceRunning, 30_000);
  assert.ok(result.embeds.length > 0, 'the job ran to its end');
});

test("ℹ️, U and V with another server's job id show and post nothing of it", async () => {
  const jobId = jobIdOf(aliceResult);
  assert.match(await forgedClick(malloryResult, encodeCustomId({ action: 'info', jobId, index: 0 })), GONE);
  const before = h.discord.messages('elsewhere').length;
  for (const action of ['upscale', 'variation', 'reroll'] as const) {
    assert.match(await forgedClick(malloryResult, encodeCustomId({ action, jobId, index: 0 })), GONE, action);
  }
  await new Promise((r) => setTimeout(r, 500));
  const posted = h.discord.messages('elsewhere').slice(before);
  assert.deepEqual(
    posted.map((m) => m.content),
    [],
    'nothing was posted in the other server',
  );
  const everywhere = h.discord.messages('elsewhere', { visibleTo: 'mallory' });
  assert.ok(
    !everywhere.some((m) => m.content.includes('alice secret prompt') || JSON.stringify(m.embeds).includes('alice secret prompt')),
    "alice's prompt never reached the other server",
  );
});

test("/cancel with another server's job id is answered as unknown", async () => {
  const run = await h.discord.slash('imagine', { prompt: 'alice second long job', steps: 150, size: '64x64' }, { user: 'alice' });
  await run.ack();
  const progress = await run.waitForOriginal((m) => m.buttons.some((b) => b.emoji?.name === '❌'), { timeoutMs: 10_000 });
  const jobId = jobIdOf(progress);
  const cancel = await h.discord.slash('cancel', { job: jobId }, { user: 'mallory', channel: 'elsewhere' });
  await cancel.ack();
  const answer = await cancel.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
  assert.match(answer.content, /There is no job/);
  assert.ok(answer.ephemeral);
  const result = await resultOf(h.discord, run, 30_000);
  assert.ok(result.embeds.length > 0, 'the job ran to its end');
});

test('/settings autocomplete offers blocked words to server admins only', async () => {
  const block = await h.discord.slash('settings safety block', { phrase: 'hidden word' }, { user: 'mod' });
  await block.ack();
  await block.waitForOriginal((m) => /✅/.test(m.content), { timeoutMs: 10_000 });
  const admin = await h.discord.autocomplete('settings safety unblock', { phrase: 'hid' }, 'phrase', { user: 'mod' });
  assert.deepEqual(await admin.choices(), [{ name: 'hidden word', value: 'hidden word' }]);
  // alice's client hides /settings; a modified one can still send the autocomplete.
  const member = await h.discord.autocomplete('settings safety unblock', { phrase: 'hid' }, 'phrase', { user: 'alice', skipClientChecks: true });
  assert.deepEqual(await member.choices(), []);
});

test('an /imagine that arrives from a DM anyway is refused, and nothing is queued', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'dm bypass attempt', steps: 5, size: '64x64' }, { user: 'alice', dm: true, skipClientChecks: true });
  await run.ack();
  const answer = await run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
  assert.ok(answer.ephemeral, 'the refusal is ephemeral');
  assert.match(answer.content, /servers only/);
  await new Promise((r) => setTimeout(r, 1000));
  const db = new Database(join(h.dataDir, 'bot.sqlite'), { readonly: true });
  try {
    const row = db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE json_extract(request_json, '$.prompt') = ?`).get('dm bypass attempt') as { n: number };
    assert.equal(row.n, 0, 'no job was queued from the DM');
  } finally {
    db.close();
  }
});

test('every command is registered for servers only, so none runs in DMs', () => {
  const all = [...h.discord.commands(), ...h.discord.commands(h.discord.guild().id)] as { name: string; contexts?: number[] | null }[];
  assert.ok(all.length >= 6, `commands registered: ${all.map((c) => c.name).join(', ')}`);
  for (const c of all) assert.deepEqual(c.contexts, [0], `/${c.name} contexts`);
});

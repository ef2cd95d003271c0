// The real bot process across a restart, and past the 15-minute life of an interaction token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { imageSize, isResult, resultOf, startHarness, type BotProcess, type Harness } from './harness.js';

let h: Harness;
let bot: BotProcess;

before(async () => {
  h = await startHarness();
  bot = await h.startBot({ IMAGINE_MAX_STEPS: '120' });
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

test('a bot restart between generation and click still serves the click', async () => {
  const run = await h.discord.slash('imagine', { prompt: 'survives restarts', seed: 7, steps: 10, size: '64x64', count: 2 });
  await run.ack();
  const result = await resultOf(h.discord, run);

  assert.equal(await bot.stop(), 0, 'SIGTERM ends the bot cleanly');
  bot = await h.startBot({ IMAGINE_MAX_STEPS: '120' });
  const registrations = h.discord.commandRegistrations.length;

  const u1 = result.buttons.find((b) => b.label === 'U1')!.customId!;
  const click = await h.discord.clickButton(result, u1);
  await click.ack();
  const up = await h.discord.waitForMessage('general', (m) => m.reference?.messageId === result.id && isResult(m), { timeoutMs: 30_000 });
  assert.deepEqual(await imageSize(up.attachments[0].bytes), { width: 128, height: 128, format: 'png' });
  assert.match(up.embeds[0].title ?? '', /Upscale ×2 of image 1/);
  assert.equal(h.discord.commandRegistrations.length, registrations, 'unchanged commands are not registered again');
});

test('a job that finishes after the interaction token died is posted to the channel, mentioning the requester', async () => {
  const alice = h.discord.user('alice').id;
  const run = await h.discord.slash('imagine', { prompt: 'slow queue', steps: 120, size: '128x128', count: 4 });
  await run.ack();
  // Discord's clock jumps past the token's 15 minutes while the job runs: every webhook call now
  // fails with 50027, as it would for a job that waited that long in the queue.
  h.discord.clock.advance(15 * 60_000 + 1000);

  const original = (await run.original())!;
  const posted = await h.discord.waitForMessage('general', (m) => m.kind === 'channel' && isResult(m) && m.reference?.messageId === original.id, {
    timeoutMs: 30_000,
  });
  assert.ok(posted.content.includes(`<@${alice}>`));
  assert.deepEqual(posted.mentions.users, [alice]);
  assert.equal(posted.attachments.length, 5);
  assert.deepEqual(
    posted.buttons.map((b) => b.label ?? b.emoji?.name),
    ['U1', 'U2', 'U3', 'U4', 'V1', 'V2', 'V3', 'V4', '🔄', 'ℹ️'],
  );
  const closed = await run.waitForOriginal((m) => /the images are in the reply below/.test(m.content), { timeoutMs: 10_000 });
  assert.equal(closed.buttons.length, 0, 'the stale progress message loses its ❌');
  assert.equal(closed.attachments.length, 0);
  const expired = h.discord.requestsTo('PATCH /webhooks/*').filter((r) => r.path.includes(run.payload.token as string) && r.status === 401);
  assert.ok(expired.length >= 1, 'the bot tried the token, got 50027, and switched to the channel');
  assert.ok(
    h.discord.requestsTo('PATCH /channels/*').some((r) => r.path.endsWith(`/messages/${original.id}`) && r.status === 200),
    'and edited the request through the channel instead',
  );

  // Buttons on the channel post work like any other.
  const click = await h.discord.clickButton(posted, posted.buttons.find((b) => b.label === 'U4')!.customId!);
  await click.ack();
  const up = await h.discord.waitForMessage('general', (m) => m.reference?.messageId === posted.id && isResult(m), { timeoutMs: 30_000 });
  assert.deepEqual(await imageSize(up.attachments[0].bytes), { width: 256, height: 256, format: 'png' });
});

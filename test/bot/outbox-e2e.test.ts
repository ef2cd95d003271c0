// The delivery outbox, end to end: Discord (the stand-in) becomes unreachable while a job runs
// and comes back on the same port later; the result is posted exactly once after it, also when
// the bot was restarted in between.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isResult, startHarness, type BotProcess, type Harness } from './harness.js';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';

const OUTAGE_MS = 60_000;
// Short waits so a test need not sit out production backoff (2 s doubling to 5 min).
const ENV = { IMAGINE_MAX_STEPS: '150', PROGRESS_EDIT_INTERVAL_MS: '200', DELIVERY_RETRY_BASE_MS: '300', DELIVERY_RETRY_MAX_MS: '2000' };

let h: Harness;
let bot: BotProcess;

before(async () => {
  h = await startHarness();
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

function row(sql: string, ...args: unknown[]): Record<string, unknown> | undefined {
  const db = new Database(join(h.dataDir, 'bot.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).get(...args) as Record<string, unknown> | undefined;
  } finally {
    db.close();
  }
}

async function until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n--- bot output ---\n${bot.log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a slow job and cuts Discord off once it shows progress; resolves with the job id once SQLite says `done`. */
async function jobFinishingDuringOutage(prompt: string): Promise<{ run: InteractionHandle; jobId: string; offlineAt: number }> {
  // Long enough (about half a second warm on the tiny model) for progress to show before the cut.
  const run = await h.discord.slash('imagine', { prompt, steps: 150, size: '256x256', count: 2 });
  await run.ack();
  await run.waitForOriginal((m) => /step\s*\d+/i.test(m.content), { timeoutMs: 30_000 });
  await h.discord.goOffline();
  const offlineAt = Date.now();
  const job = await until(() => row(`SELECT id, state FROM jobs WHERE json_extract(request_json, '$.prompt') = ?`, prompt), 5000, 'the job row');
  const jobId = String(job.id);
  await until(() => row(`SELECT 1 AS done FROM jobs WHERE id = ? AND state = 'done'`, jobId), OUTAGE_MS - 5000, 'the job to finish during the outage');
  assert.equal(row('SELECT state FROM deliveries WHERE job_id = ?', jobId)?.state, 'pending', 'done, but not delivered while Discord is away');
  return { run, jobId, offlineAt };
}

function resultsFor(run: InteractionHandle): ViewMessage[] {
  const original = run.original()!;
  return h.discord.messages(run.channelId).filter((m) => (m.id === original.id || m.reference?.messageId === original.id) && isResult(m));
}

async function expectDeliveredOnce(run: InteractionHandle, jobId: string): Promise<void> {
  const result = await h.discord.waitFor(() => resultsFor(run)[0], { timeoutMs: 30_000, message: 'the result after the outage' });
  assert.equal(result.attachments.length, 3, 'two images and the grid');
  // Give any duplicate time to show up: retries run every ≤ 2 s here.
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(resultsFor(run).length, 1, 'exactly one result message');
  const delivery = row('SELECT state, message_id FROM deliveries WHERE job_id = ?', jobId);
  assert.deepEqual({ ...delivery }, { state: 'delivered', message_id: result.id });
  const closed = run.original()!;
  assert.ok(!/step\s*\d+/i.test(closed.content), `the progress message no longer shows a step: ${closed.content}`);
}

test('a result finished during a 60 s outage is delivered exactly once when Discord is back', { timeout: 180_000 }, async () => {
  const { run, jobId, offlineAt } = await jobFinishingDuringOutage('outage sixty seconds');
  await new Promise((r) => setTimeout(r, Math.max(0, offlineAt + OUTAGE_MS - Date.now())));
  assert.equal(resultsFor(run).length, 0);
  await h.discord.goOnline();
  await expectDeliveredOnce(run, jobId);
  assert.equal(bot.child.exitCode, null, 'the bot stayed up through the outage');
});

test('a result owed when the bot restarts is delivered exactly once by the next run', { timeout: 180_000 }, async () => {
  const { run, jobId } = await jobFinishingDuringOutage('outage and restart');
  assert.equal(await bot.stop(), 0, 'SIGTERM during the outage still ends the bot cleanly');
  await h.discord.goOnline();
  bot = await h.startBot(ENV);
  await expectDeliveredOnce(run, jobId);
});

test('a failure notice refused with 503s is retried, shown as owed in /queue, and posted once Discord recovers', { timeout: 120_000 }, async () => {
  const run = await h.discord.slash('imagine', { prompt: 'doomed during an incident', model: 'broken', steps: 5, size: '64x64' });
  await run.ack();
  // Discord's message endpoints fail while interactions still work (a partial incident).
  h.discord.failNext(/^(PATCH|POST|DELETE) \/(webhooks|channels)\//, { status: 503, times: 1_000_000 });
  const job = await until(() => row(`SELECT id FROM jobs WHERE json_extract(request_json, '$.prompt') = ?`, 'doomed during an incident'), 5000, 'the job row');
  const jobId = String(job.id);
  await until(() => row(`SELECT 1 AS failed FROM jobs WHERE id = ? AND state = 'failed'`, jobId), 60_000, 'the job to fail');
  await until(() => row(`SELECT 1 AS retried FROM deliveries WHERE job_id = ? AND state = 'pending' AND attempts >= 2`, jobId), 30_000, 'delivery retries');

  const queue = await h.discord.slash('queue', {});
  await queue.ack();
  const answer = await queue.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
  assert.ok(answer.ephemeral);
  assert.match(answer.content, new RegExp(`📬 1 finished job is waiting to be posted .*${jobId}`));

  h.discord.clearServerErrors();
  const failed = await run.waitForOriginal((m) => /Generation failed/.test(m.content), { timeoutMs: 30_000 });
  assert.match(failed.content, /Cannot load unet/);
  await new Promise((r) => setTimeout(r, 3000));
  const notices = h.discord.messages('general').filter((m) => /Generation failed/.test(m.content) && m.content.includes(jobId));
  assert.equal(notices.length, 1, 'one failure notice');
  assert.equal(row('SELECT state FROM deliveries WHERE job_id = ?', jobId)?.state, 'delivered');
  assert.ok(
    h.discord.requests.some((r) => r.status === 503),
    'Discord did answer 503 meanwhile',
  );
});

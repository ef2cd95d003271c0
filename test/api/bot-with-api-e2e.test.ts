// `npm start` with API_PORT: the bot serves the HTTP API beside Discord, over the same queue.
// An API job is drawn but never posted to Discord (its client fetches it), and /stats shows API
// usage per key beside the server's own.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { after, before, test } from 'node:test';
import { type BotProcess, type Harness, startHarness } from '../bot/harness.js';
import { createKey, postJson } from './support.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let h: Harness;
let bot: BotProcess;
let port: number;
let key: string;

before(async () => {
  h = await startHarness();
  key = createKey(h.dataDir, 'beside-discord');
  port = await freePort();
  bot = await h.startBot({ DEVICES: 'noop:0', NOOP_STEP_MS: '5', API_PORT: String(port) });
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

test('the API answers beside the bot; its jobs are not posted to Discord; /stats shows them', async () => {
  const r = await postJson(
    `http://127.0.0.1:${port}/generate`,
    { prompt: 'an api-only picture', num_inference_steps: 2, width: 64, height: 64, num_images: 2 },
    key,
  );
  assert.equal(r.status, 200, `${JSON.stringify(r.json)}\n${bot.log}`);
  assert.equal(r.json.images.length, 2);
  // /healthz and /metrics come with the API when METRICS_PORT is unset.
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const channel of ['general', 'nsfw-art']) {
    assert.deepEqual(
      h.discord.messages(channel).filter((m) => JSON.stringify(m).includes('an api-only picture')),
      [],
      `nothing about the API job in #${channel}`,
    );
  }
  // Nor owed: the delivery outbox holds no row for it (it would retry posting it for 24 h).
  const db = new Database(join(h.dataDir, 'bot.sqlite'), { readonly: true });
  try {
    assert.deepEqual(db.prepare('SELECT job_id FROM deliveries WHERE job_id = ?').all(r.json.id), []);
  } finally {
    db.close();
  }
  const run = await h.discord.slash('stats', {}, { user: 'mod' });
  await run.ack();
  const stats = await run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
  assert.match(stats.content, /\*\*HTTP API\*\* \(all keys, whole bot\) 1 jobs, 2 images, 0 failed; beside-discord [\d.]+ s \(1 job, 2 images\)/);
});

// The outbox's retry rules on their own, with a real SQLite outbox: which failures are retried,
// how long it waits (doubling, capped, Discord's retry_after when longer), when it gives up, and
// that a restart picks up what is still owed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscordAPIError, HTTPError } from 'discord.js';
import { pino } from 'pino';
import { backoffMs, DeliveryOutbox, isTransient } from '../../src/bot/outbox.js';
import { openDatabase } from '../../src/store/db.js';
import { DeliveryStore } from '../../src/store/deliveries.js';
import { addJob } from '../settings/helpers.js';

const body = { body: undefined, files: undefined };
const apiError = (status: number, code: number, extra: Record<string, unknown> = {}) =>
  new DiscordAPIError({ code, message: 'x', ...extra }, code, status, 'POST', '/channels/1/messages', body);
const policy = { baseMs: 100, maxMs: 1000, giveUpMs: 60_000 };

test('network errors, 5xx and 429 are retried; other 4xx are not', () => {
  assert.equal(isTransient(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isTransient(new HTTPError(503, 'Service Unavailable', 'POST', '/x', body)), true);
  assert.equal(isTransient(apiError(500, 0)), true);
  assert.equal(isTransient(apiError(429, 0, { retry_after: 3 })), true);
  assert.equal(isTransient(apiError(403, 50013)), false);
  assert.equal(isTransient(apiError(404, 10003)), false);
});

test('backoff doubles up to the cap, with jitter, and waits at least retry_after', () => {
  const mid = () => 0.5;
  assert.deepEqual(
    [0, 1, 2, 3, 4, 10].map((a) => backoffMs(policy, a, new Error('x'), mid)),
    [100, 200, 400, 800, 1000, 1000],
  );
  assert.equal(
    backoffMs(policy, 0, new Error('x'), () => 0),
    80,
  );
  assert.equal(
    backoffMs(policy, 0, new Error('x'), () => 1),
    120,
  );
  assert.equal(backoffMs(policy, 0, apiError(429, 0, { retry_after: 7.5 }), mid), 7500);
});

test('owed messages are retried until delivered, survive a restart, and are given up after the window', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  const log = pino({ level: 'silent' });
  let now = 1_000_000;
  try {
    const db = openDatabase(dir);
    const store = new DeliveryStore(db);
    const failing = new DeliveryOutbox({
      store,
      log,
      retry: { baseMs: 10, maxMs: 20, giveUpMs: 60_000 },
      now: () => now,
      deliver: async () => Promise.reject(new HTTPError(502, 'Bad Gateway', 'POST', '/x', body)),
    });
    failing.enqueue('job-1', 'done', 'reply', { uploadLimit: 1024 });
    failing.enqueue('job-1', 'done', 'reply', {});
    while ((store.get('job-1')?.attempts ?? 0) < 3) await new Promise((r) => setTimeout(r, 5));
    await failing.stop();
    const owed = store.get('job-1')!;
    assert.equal(owed.state, 'pending');
    assert.deepEqual(owed.detail, { uploadLimit: 1024 }, 'the first event wins; a repeat is ignored');
    assert.match(owed.lastError ?? '', /502|Bad Gateway/);

    // The next run: Discord answers, the row is delivered once.
    const delivered: string[] = [];
    const next = new DeliveryOutbox({
      store,
      log,
      retry: policy,
      now: () => now,
      deliver: async (d) => {
        delivered.push(d.jobId);
        return 'message-9';
      },
    });
    assert.equal(next.resume(), 1);
    while (store.get('job-1')?.state === 'pending') await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(delivered, ['job-1']);
    assert.equal(store.get('job-1')?.messageId, 'message-9');
    await next.stop();

    // Unreachable for longer than the window: given up, with the reason kept.
    const late = new DeliveryOutbox({
      store,
      log,
      retry: { baseMs: 10, maxMs: 20, giveUpMs: 60_000 },
      now: () => now,
      deliver: async () => Promise.reject(new Error('ETIMEDOUT')),
    });
    late.enqueue('job-2', 'failed', 'in-place', { message: 'boom' });
    while ((store.get('job-2')?.attempts ?? 0) < 1) await new Promise((r) => setTimeout(r, 5));
    now += 61_000;
    while (store.get('job-2')?.state === 'pending') await new Promise((r) => setTimeout(r, 5));
    assert.equal(store.get('job-2')?.state, 'abandoned');
    // A refusal (4xx) is not retried at all.
    const refused = new DeliveryOutbox({ store, log, retry: policy, now: () => now, deliver: async () => Promise.reject(apiError(403, 50013)) });
    refused.enqueue('job-3', 'cancelled', 'in-place', {});
    while (store.get('job-3')?.state === 'pending') await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual({ state: store.get('job-3')?.state, attempts: store.get('job-3')?.attempts }, { state: 'abandoned', attempts: 1 });
    await Promise.all([late.stop(), refused.stop()]);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('jobs that finished without a delivery row (a stop at the wrong moment) are owed at the next start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-'));
  const log = pino({ level: 'silent' });
  try {
    const db = openDatabase(dir);
    const now = Date.now();
    const failed = addJob(db, { createdAt: now - 5000, finishedAt: now - 4000, state: 'failed', error: 'worker crashed' });
    const old = addJob(db, { createdAt: now - 3 * 86_400_000, finishedAt: now - 3 * 86_400_000 });
    const running = addJob(db, { createdAt: now - 1000, state: 'running' });
    const store = new DeliveryStore(db);
    store.add({ jobId: addJob(db, { createdAt: now - 2000, finishedAt: now - 1000 }).id, kind: 'done', mode: 'reply', detail: {}, at: now });
    const seen: { jobId: string; kind: string; mode: string; message?: string }[] = [];
    const outbox = new DeliveryOutbox({
      store,
      log,
      retry: policy,
      deliver: async (d) => {
        seen.push({ jobId: d.jobId, kind: d.kind, mode: d.mode, message: d.detail.message });
        return 'm';
      },
    });
    outbox.resume();
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    await outbox.stop();
    const adopted = seen.find((s) => s.jobId === failed.id);
    assert.deepEqual(adopted, { jobId: failed.id, kind: 'failed', mode: 'in-place', message: 'worker crashed' });
    assert.equal(seen.length, 2, 'the one with a row and the adopted one, nothing else');
    assert.equal(store.get(old.id), undefined, 'older than the retry window: left alone');
    assert.equal(store.get(running.id), undefined, 'not finished: nothing owed yet');
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

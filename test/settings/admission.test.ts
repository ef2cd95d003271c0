// The admission check over a real jobs table: which jobs count, when the next slot opens, and
// the order of the checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAdmission, type AdmissionRequest } from '../../src/settings/admission.js';
import { formatWait } from '../../src/durations.js';
import { findBlocked } from '../../src/settings/blocked-words.js';
import { effectiveSettings } from '../../src/settings/effective.js';
import type { GuildSettings } from '../../src/settings/schema.js';
import { DAY_MS, HOUR_MS, UsageStore } from '../../src/settings/usage.js';
import { addJob, admissionRequest, CHANNEL, GUILD, owner, tempDb } from './helpers.js';

const NOW = Date.UTC(2025, 0, 10, 12, 0, 0);
const MIN = 60_000;

const request = admissionRequest;

function check(settings: GuildSettings, usage: UsageStore, o: Partial<AdmissionRequest> = {}, now = NOW) {
  return checkAdmission(request(o), effectiveSettings(settings, owner()), usage, now);
}

test('wait times read as people say them, rounded up', () => {
  assert.equal(formatWait(400), '1 s');
  assert.equal(formatWait(45_200), '46 s');
  assert.equal(formatWait(11 * MIN + 1), '12 min');
  assert.equal(formatWait(HOUR_MS), '1 h');
  assert.equal(formatWait(3 * HOUR_MS + 4 * MIN + 30_000), '3 h 5 min');
});

test('blocked phrases match whole words in any case and spacing', () => {
  const list = ['red fox', 'gore'];
  assert.equal(findBlocked('A RED \n fox!', list), 'red fox');
  assert.equal(findBlocked('Gore-tex jacket', list), 'gore', 'a hyphen is a word boundary');
  assert.equal(findBlocked('a redfox, gorey, reddish fox', list), undefined);
  assert.equal(findBlocked('ÉTÉ gore', ['été']), 'été', 'any script, any case');
});

test('cooldown: the next slot opens cooldown seconds after the last counting job', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s: GuildSettings = { limits: { cooldownSeconds: 600 } };
  assert.deepEqual(check(s, usage), { ok: true });
  addJob(db, { createdAt: NOW - 4 * MIN });
  const r = check(s, usage);
  assert.deepEqual(r, { ok: false, reason: 'cooldown', message: '⏳ One job every 10 min on this server: next slot in 6 min.', retryInMs: 6 * MIN });
  assert.ok(check(s, usage, { userId: 'u2' }).ok, 'per user');
  assert.ok(check(s, usage, { guildId: '100000000000000009' }).ok, 'per guild');
  assert.ok(check(s, usage, {}, NOW + 6 * MIN).ok, 'open once it passed');
  // A job cancelled before it started, or one that failed, does not count.
  addJob(db, { createdAt: NOW - MIN, state: 'cancelled', startedAt: undefined, userId: 'u3' });
  addJob(db, { createdAt: NOW - MIN, state: 'failed', userId: 'u3', error: 'boom' });
  assert.ok(check(s, usage, { userId: 'u3' }).ok);
  db.close();
});

test('jobs per hour: the slot opens when the oldest job in the window leaves it', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s: GuildSettings = { limits: { jobsPerHour: 3 } };
  addJob(db, { createdAt: NOW - 70 * MIN });
  addJob(db, { createdAt: NOW - 50 * MIN });
  addJob(db, { createdAt: NOW - 20 * MIN });
  assert.ok(check(s, usage).ok, 'the 70-minute-old job is outside the window');
  addJob(db, { createdAt: NOW - 10 * MIN, state: 'queued' });
  const r = check(s, usage);
  assert.ok(!r.ok);
  assert.equal(r.message, '⏳ 3 jobs per hour: next slot in 10 min.');
  assert.equal(r.retryInMs, 10 * MIN);
  // Imagen-drawn jobs are jobs too.
  addJob(db, { createdAt: NOW - MIN, userId: 'u2', provider: 'imagen' });
  addJob(db, { createdAt: NOW - MIN, userId: 'u2', provider: 'imagen' });
  addJob(db, { createdAt: NOW - MIN, userId: 'u2' });
  assert.equal((check(s, usage, { userId: 'u2' }) as { reason: string }).reason, 'jobs_per_hour');
  db.close();
});

test('images per day: counts images, says how many are left, and when enough free up', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s: GuildSettings = { limits: { imagesPerDay: 10 } };
  addJob(db, { createdAt: NOW - 20 * HOUR_MS, count: 4 });
  addJob(db, { createdAt: NOW - 2 * HOUR_MS, count: 4 });
  addJob(db, { createdAt: NOW - HOUR_MS, count: 1, kind: 'upscale' });
  assert.ok(check(s, usage, { images: 1 }).ok);
  const r = check(s, usage, { images: 4 });
  assert.ok(!r.ok);
  assert.equal(r.message, '⏳ 10 images per day: next slot in 4 h (or ask for 1 now).');
  assert.equal(r.retryInMs, 4 * HOUR_MS);
  assert.ok(check(s, usage, { images: 4 }, NOW + 4 * HOUR_MS).ok);
  const tooMany = check({ limits: { imagesPerDay: 2 } }, usage, { images: 4, userId: 'u9' });
  assert.ok(!tooMany.ok);
  assert.equal(tooMany.message, '🚫 2 images per day on this server, and this job asks for 4; ask for fewer.');
  assert.equal(usage.userJobsSince(GUILD, 'u1', NOW - DAY_MS).length, 3);
  db.close();
});

test('place and content come before quotas; a server queue cap counts waiting jobs only', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s: GuildSettings = {
    channels: { allow: [], deny: [CHANNEL] },
    model: { allow: [], deny: ['sd15'] },
    safety: { blockedWords: ['gore'] },
    limits: { maxSteps: 20, maxQueuedPerUser: 1, cooldownSeconds: 60 },
  };
  addJob(db, { createdAt: NOW - 1000 });
  assert.equal((check(s, usage) as { reason: string }).reason, 'channel');
  const open = { ...s, channels: { allow: [], deny: [] } };
  assert.equal(
    (check(open, usage, { model: 'sd15' }) as { message: string }).message,
    '🚫 Model sd15 is not allowed on this server; /models shows the ones that are.',
  );
  assert.equal((check(open, usage, { prompt: 'so much GORE' }) as { reason: string }).reason, 'blocked_word');
  assert.equal((check(open, usage, { steps: 30 }) as { message: string }).message, '🚫 This server allows at most 20 steps; this job asks for 30.');
  assert.ok(check(open, usage, { steps: 30, kind: 'upscale' }).ok === false, 'an upscale is still held by the cooldown');
  assert.equal((check(open, usage, { steps: 30, kind: 'upscale' }) as { reason: string }).reason, 'cooldown', 'but not by the steps of its source');
  addJob(db, { createdAt: NOW - 500, state: 'queued', userId: 'u2' });
  assert.equal(
    (check(open, usage, { userId: 'u2' }) as { message: string }).message,
    '⏳ 1 waiting job per user on this server: wait for one of yours to start (/queue shows them).',
  );
  db.close();
});

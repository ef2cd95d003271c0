// Every owner ceiling and server limit at its exact boundary: the value at the limit passes, one
// past it is refused. (A check moved by one, `>` for `>=`, must fail here.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAdmission, type AdmissionRequest } from '../../src/settings/admission.js';
import { applyChange, type LimitKey, type SettingsCommand } from '../../src/settings/changes.js';
import { effectiveSettings } from '../../src/settings/effective.js';
import type { GuildSettings } from '../../src/settings/schema.js';
import { HOUR_MS, DAY_MS, UsageStore } from '../../src/settings/usage.js';
import { addJob, admissionRequest, owner, tempDb } from './helpers.js';

const NOW = Date.UTC(2025, 0, 10, 12, 0, 0);
const OWNER = owner({ maxSteps: 50, maxSide: 1024, maxCount: 4, maxQueuedPerUser: 5, jobsPerHour: 20, imagesPerDay: 100, minCooldownSeconds: 10 });

function change(cmd: SettingsCommand) {
  return applyChange(cmd, { current: {}, owner: OWNER, models: ['tiny'] });
}

const limit = (key: LimitKey, value: number) => change({ kind: 'limits', values: { [key]: value } });

test('an admin may set each limit exactly at the owner ceiling, not one above', () => {
  const ceilings: [LimitKey, number, number, string][] = [
    ['maxSteps', 50, 51, 'IMAGINE_MAX_STEPS=50'],
    ['maxSide', 1024, 1088, 'IMAGINE_MAX_SIDE=1024'],
    ['maxCount', 4, 5, 'IMAGINE_MAX_COUNT=4'],
    ['maxQueuedPerUser', 5, 6, '=5'],
    ['jobsPerHour', 20, 21, 'IMAGINE_MAX_JOBS_PER_HOUR=20'],
    ['imagesPerDay', 100, 101, 'IMAGINE_MAX_IMAGES_PER_DAY=100'],
  ];
  for (const [key, at, above, named] of ceilings) {
    const ok = limit(key, at);
    assert.ok(ok.ok, `${key} = ${at} (the ceiling) is accepted${ok.ok ? '' : `: ${ok.message}`}`);
    const refused = limit(key, above);
    assert.ok(!refused.ok, `${key} = ${above} is above the ceiling`);
    assert.ok(refused.message.includes(named), `${key}: the refusal names the ceiling (${refused.message})`);
  }
});

test('the cooldown may be set exactly at the owner minimum, not one second below', () => {
  assert.ok(limit('cooldownSeconds', 10).ok);
  const below = limit('cooldownSeconds', 9);
  assert.ok(!below.ok);
  assert.match(below.message, /below the owner's minimum IMAGINE_MIN_COOLDOWN_S=10/);
});

test('a stored server value at the ceiling applies; one above gives way to the ceiling', () => {
  const at = effectiveSettings({ limits: { maxSteps: 50, maxSide: 1024, maxCount: 4 } }, OWNER).limits;
  assert.deepEqual(
    [at.maxSteps, at.maxSide, at.maxCount].map((x) => x.source),
    ['server', 'server', 'server'],
  );
  const above = effectiveSettings({ limits: { maxSteps: 51, maxSide: 1088, maxCount: 5 } }, OWNER).limits;
  assert.deepEqual(
    [above.maxSteps, above.maxSide, above.maxCount].map((x) => [x.source, x.value]),
    [
      ['owner', 50],
      ['owner', 1024],
      ['owner', 4],
    ],
  );
});

test('default steps and guidance may sit exactly at the limit, not above', () => {
  assert.ok(change({ kind: 'defaults', values: { steps: 50 } }).ok);
  assert.ok(!change({ kind: 'defaults', values: { steps: 51 } }).ok);
  assert.ok(change({ kind: 'defaults', values: { guidance: 20 } }).ok);
  const above = change({ kind: 'defaults', values: { guidance: 20.5 } });
  assert.ok(!above.ok);
  assert.match(above.message, /IMAGINE_MAX_GUIDANCE/);
});

const request = admissionRequest;

test('admission: steps, side and image count exactly at the limit pass, one more is refused', () => {
  const usage = new UsageStore(tempDb());
  const s = effectiveSettings({}, OWNER);
  const admit = (o: Partial<AdmissionRequest>) => checkAdmission(request(o), s, usage, NOW);
  assert.ok(admit({ steps: 50 }).ok);
  assert.equal(admit({ steps: 51 }).ok, false);
  assert.ok(admit({ width: 1024, height: 512 }).ok);
  assert.equal(admit({ width: 1025, height: 512 }).ok, false);
  assert.ok(admit({ width: 512, height: 1024 }).ok);
  assert.equal(admit({ width: 512, height: 1025 }).ok, false);
  assert.ok(admit({ images: 4 }).ok);
  assert.equal(admit({ images: 5 }).ok, false);
});

test('admission: the hourly quota allows exactly N jobs in the window, and the window is one hour', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s = effectiveSettings({ limits: { jobsPerHour: 3 } } satisfies GuildSettings, OWNER);
  addJob(db, { createdAt: NOW - HOUR_MS }); // exactly an hour ago: out of the window
  addJob(db, { createdAt: NOW - 30 * 60_000 });
  addJob(db, { createdAt: NOW - 20 * 60_000 });
  assert.ok(checkAdmission(request(), s, usage, NOW).ok, 'two in the window, the third is allowed');
  addJob(db, { createdAt: NOW - 10 * 60_000 });
  const r = checkAdmission(request(), s, usage, NOW);
  assert.equal(r.ok ? 'ok' : r.reason, 'jobs_per_hour');
});

test('admission: the daily image quota allows exactly N images, not N + 1', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s = effectiveSettings({ limits: { imagesPerDay: 10 } } satisfies GuildSettings, OWNER);
  addJob(db, { createdAt: NOW - DAY_MS }); // exactly a day ago: out of the window
  addJob(db, { createdAt: NOW - HOUR_MS, count: 4 });
  addJob(db, { createdAt: NOW - 2 * HOUR_MS, count: 4 });
  assert.ok(checkAdmission(request({ images: 2 }), s, usage, NOW).ok, '8 + 2 = 10 images');
  const r = checkAdmission(request({ images: 3 }), s, usage, NOW);
  assert.equal(r.ok ? 'ok' : r.reason, 'images_per_day');
  // One job asking for more than the whole day's quota: at the quota passes, one more is refused.
  const small = effectiveSettings({ limits: { imagesPerDay: 3 } } satisfies GuildSettings, OWNER);
  assert.ok(checkAdmission(request({ images: 3 }), small, new UsageStore(tempDb()), NOW).ok);
  const over = checkAdmission(request({ images: 4 }), small, new UsageStore(tempDb()), NOW);
  assert.equal(over.ok ? 'ok' : over.reason, 'images_per_day');
});

test('admission: the cooldown opens exactly cooldown seconds after the last job, not a millisecond earlier', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const s = effectiveSettings({ limits: { cooldownSeconds: 60 } } satisfies GuildSettings, OWNER);
  addJob(db, { createdAt: NOW - 60_000 });
  assert.ok(checkAdmission(request(), s, usage, NOW).ok);
  assert.equal(checkAdmission(request(), s, usage, NOW - 1).ok, false);
});

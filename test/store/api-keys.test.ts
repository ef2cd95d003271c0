import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { apiRequester } from '../../src/jobs/api-requester.js';
import { ApiJobsStore } from '../../src/store/api-jobs.js';
import { ApiKeyStore, hashKey } from '../../src/store/api-keys.js';
import { openDatabase } from '../../src/store/db.js';
import { DeliveryStore } from '../../src/store/deliveries.js';
import { JobStore } from '../../src/store/jobs.js';
import { jobRecord } from '../support/job-record.js';

const db = () => openDatabase(mkdtempSync(join(tmpdir(), 'api-keys-')));

test('keys: only the hash is stored; verify, revoke, list', () => {
  const d = db();
  const keys = new ApiKeyStore(d);
  const key = keys.create('alice', { imagesPerDay: 10 }, { now: 1000 });
  const row = d.prepare('SELECT * FROM api_keys').get() as Record<string, unknown>;
  assert.equal(row.key_hash, hashKey(key));
  assert.ok(!Object.values(row).includes(key));
  assert.deepEqual(keys.verify(key), { name: 'alice', limits: { imagesPerDay: 10 }, admin: false, createdAt: 1000 });
  assert.equal(keys.verify(`${key}!`), undefined);
  assert.equal(keys.revoke('alice', 2000), true);
  assert.equal(keys.revoke('alice'), false, 'already revoked');
  assert.equal(keys.verify(key), undefined);
  assert.equal(keys.isRevoked(key), true);
  assert.equal(keys.list()[0].revokedAt, 2000);
});

test('API jobs are never adopted by the Discord delivery outbox; usage per key counts them', () => {
  const d = db();
  const jobs = new JobStore(d);
  const api = jobRecord({ id: 'api-job', state: 'done', finishedAt: 10, startedAt: 8, requester: apiRequester('alice') });
  const discord = jobRecord({ id: 'discord-job', state: 'done', finishedAt: 10 });
  jobs.insert(api);
  jobs.insert(discord);
  assert.equal(new DeliveryStore(d, '').adoptFinished(0), 1);
  assert.deepEqual(
    new DeliveryStore(d, '').pending().map((p) => p.jobId),
    ['discord-job'],
  );
  const usage = new ApiJobsStore(d);
  assert.deepEqual(usage.usageSince(0), [{ key: 'alice', jobs: 1, images: 1, failed: 0, seconds: 0.002 }]);
  assert.deepEqual(usage.recentIds(apiRequester('alice').userId, 5), ['api-job']);
  assert.deepEqual(usage.recentIds(undefined, 5), ['api-job']);
});

// The SQLite store: migrations, JobRecord round trip, step statistics and the retention sweep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/db.js';
import { migrate, MIGRATIONS } from '../../src/store/migrations.js';
import { JobStore } from '../../src/store/jobs.js';
import { StepStatsStore } from '../../src/store/step-stats.js';
import { FileStore, imageExtension } from '../../src/store/files.js';
import { fullJobRecord, jobRecord } from '../support/job-record.js';

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'store-test-'));
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('migrations are versioned and idempotent, and the pragmas are set', () => {
  const dir = tempDir();
  const db = openDatabase(dir);
  assert.equal(migrate(db), MIGRATIONS.length);
  assert.equal(migrate(db), MIGRATIONS.length);
  assert.equal((db.prepare('SELECT COUNT(*) AS n FROM schema_version').get() as { n: number }).n, MIGRATIONS.length);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
  db.close();
  // Reopening applies nothing new; a later migration applies once, in a transaction.
  const again = openDatabase(dir);
  assert.equal(migrate(again, [...MIGRATIONS, 'CREATE TABLE extra (x INTEGER)']), MIGRATIONS.length + 1);
  assert.equal(migrate(again, [...MIGRATIONS, 'CREATE TABLE extra (x INTEGER)']), MIGRATIONS.length + 1);
  // A failing migration leaves no half-applied version behind.
  assert.throws(() => migrate(again, [...MIGRATIONS, 'CREATE TABLE extra (x INTEGER)', 'CREATE TABLE bad (; nonsense']));
  assert.equal((again.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number }).v, MIGRATIONS.length + 1);
  again.close();
});

test('a JobRecord round-trips through the jobs table', () => {
  const db = openDatabase(tempDir());
  const jobs = new JobStore(db);
  const full = fullJobRecord({ id: 'j1' });
  jobs.insert(full);
  assert.deepEqual(jobs.get('j1'), full);
  const minimal = jobRecord({ id: 'j2' });
  jobs.insert(minimal);
  assert.deepEqual(jobs.get('j2'), minimal);
  jobs.update({ ...minimal, state: 'running', attempts: 1, device: 'cpu' }, { resumeFirst: true });
  const [resumed] = jobs.unfinished();
  assert.equal(resumed.record.id, 'j2');
  assert.equal(resumed.resumeFirst, true);
  assert.equal(jobs.get('nope'), undefined);
  db.close();
});

test('step statistics average measurements per (model, device)', () => {
  const db = openDatabase(tempDir());
  const stats = new StepStatsStore(db);
  stats.record('m', 'cpu:0', 100, 10);
  const s = stats.record('m', 'cpu:0', 200, 30);
  assert.deepEqual(s, { samples: 2, msPerUnit: 150, overheadMs: 20 });
  assert.equal(stats.get('m', 'cpu:1'), undefined);
  assert.equal(stats.all().size, 1);
  db.close();
});

test('the retention sweep deletes old outputs and inputs but keeps the row', async () => {
  const dir = tempDir();
  const db = openDatabase(dir);
  const jobs = new JobStore(db);
  const files = new FileStore(dir);
  const now = Date.now();
  const input = await files.writeInput('old', new Uint8Array([0xff, 0xd8, 0xff]));
  assert.ok(input.endsWith('old.jpg'));
  for (const [id, finishedAt] of [
    ['old', now - 31 * 86_400_000],
    ['new', now - 86_400_000],
  ] as const) {
    mkdirSync(files.outputDir(id), { recursive: true });
    writeFileSync(files.outputPath(id, 0), 'png');
    jobs.insert({ ...fullJobRecord({ id }), finishedAt, initImagePath: id === 'old' ? input : undefined, outputs: [files.outputPath(id, 0)] });
  }
  assert.equal(files.sweep(jobs, 0, now), 0, '0 days keeps everything');
  assert.equal(files.sweep(jobs, 30, now), 1);
  assert.equal(existsSync(files.outputDir('old')), false);
  assert.equal(existsSync(input), false);
  assert.equal(existsSync(files.outputDir('new')), true);
  assert.equal(jobs.get('old')?.outputsExpired, true);
  assert.equal(jobs.get('new')?.outputsExpired, undefined);
  assert.equal(files.sweep(jobs, 30, now), 0, 'an expired job is not swept twice');
  db.close();
});

test('image extensions follow the magic bytes', () => {
  assert.equal(imageExtension(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), 'png');
  assert.equal(imageExtension(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
});

test('a version-1 database gains job owners; unfinished() filters by owner', async () => {
  const dir = tempDir();
  const Database = (await import('better-sqlite3')).default;
  const old = new Database(join(dir, 'bot.sqlite'));
  assert.equal(migrate(old, MIGRATIONS.slice(0, 1)), 1);
  old
    .prepare(`INSERT INTO jobs (id, kind, model, request_json, user_id, username, channel_id, state, created_at)
              VALUES ('legacy', 'txt2img', 'm', '{"prompt":"p"}', 'u', 'n', 'c', 'queued', 1)`)
    .run();
  assert.throws(() => old.prepare('SELECT owner FROM jobs').all(), /no such column: owner/);
  old.close();

  const db = openDatabase(dir);
  const jobs = new JobStore(db);
  jobs.insert({ ...fullJobRecord({ id: 'mine' }), state: 'running' }, 'shard-1');
  jobs.insert({ ...fullJobRecord({ id: 'theirs' }), state: 'queued' }, 'shard-2');
  assert.deepEqual(
    jobs.unfinished('').map((j) => j.record.id),
    ['legacy'],
  );
  assert.deepEqual(
    jobs.unfinished('shard-1').map((j) => j.record.id),
    ['mine'],
  );
  assert.deepEqual(
    jobs
      .unfinished()
      .map((j) => j.record.id)
      .sort(),
    ['legacy', 'mine', 'theirs'],
  );
  db.close();
});

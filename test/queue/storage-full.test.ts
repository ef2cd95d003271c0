// A full disk or a database that refuses writes: the job the write was for fails with a clear
// message (an error log line and imagine_storage_errors_total for the owner), the queue stays
// up, and once writes work again it writes the states it could not and takes jobs as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadEnv } from '../../src/config/env.js';
import { createJobQueue, JobBook, type JobSpec, type ManagedJobQueue } from '../../src/queue/index.js';
import { STORAGE_FULL_MESSAGE } from '../../src/store/storage-errors.js';
import { spec, tempDataDir, waitForEvent, waitForFinished, waitUntil } from './helpers.js';

const ENV = { DEVICES: 'noop:0', NOOP_STEP_MS: '30' };

function queueOn(dataDir: string, book?: JobBook): ManagedJobQueue {
  return createJobQueue(loadEnv({ ...ENV, DATA_DIR: dataDir }), book ? { book } : {});
}

async function runToEnd(q: ManagedJobQueue, steps = 2): Promise<string> {
  const { job } = await q.submit(spec('A', { steps }, 'noop'));
  const finished = await waitForFinished(q, [job.id]);
  return finished.get(job.id)!.state;
}

async function storageErrors(q: ManagedJobQueue): Promise<number> {
  const text = await q.metricsRegistry.metrics();
  return [...text.matchAll(/^imagine_storage_errors_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/**
 * Fails writes while the job runs, then checks: the job failed with the storage message, a new
 * job is refused with it, and after `restore` the unsaved state is written and jobs run again.
 */
async function survivesFailingWrites(q: ManagedJobQueue, book: JobBook | undefined, breakWrites: () => void, restore: () => void): Promise<void> {
  assert.equal(await runToEnd(q), 'done', 'the queue works before');
  // Submit starts it on the idle device at once, so listen first.
  const started = waitForEvent(q, 'started', (j) => j.request.steps === 20);
  const { job } = await q.submit(spec('A', { steps: 20 }, 'noop'));
  await started;
  breakWrites();
  const [failed, message] = await waitForEvent(q, 'failed', (j) => j.id === job.id);
  assert.equal(failed.state, 'failed');
  assert.equal(message, STORAGE_FULL_MESSAGE);
  await assert.rejects(q.submit(spec('B', {}, 'noop')), (err: Error) => err.message === STORAGE_FULL_MESSAGE, 'a new job is refused with the same message');
  await assert.rejects(q.submit(await upscaleSpec()), (err: Error) => err.message === STORAGE_FULL_MESSAGE, 'also one with an input image to store');
  assert.equal(q.get(job.id)?.state, 'failed', 'get() answers with the unsaved state, not the stale row');
  q.setMessage(job.id, 'message-1');
  assert.equal(q.get(job.id)?.messageId, 'message-1', 'where its message is, kept until it can be written');
  assert.ok((await storageErrors(q)) >= 2, 'each failed write is counted');
  assert.ok(q.health().ok, 'the queue stays healthy');

  restore();
  assert.equal(await runToEnd(q), 'done', 'jobs run again once writes work');
  const { job: upscale } = await q.submit(await upscaleSpec());
  assert.equal((await waitForFinished(q, [upscale.id])).get(upscale.id)?.state, 'done', 'input images are stored again');
  const store = book?.store;
  if (store) {
    await waitUntil(() => store.get(job.id)?.state === 'failed', 10_000, 'the failed state to be written once writes work');
    assert.equal(store.get(job.id)?.messageId, 'message-1');
  }
}

test('a database that refuses writes (non-root stand-in for a full disk): the job fails, the queue stays up and recovers', async () => {
  const dataDir = tempDataDir();
  const book = new JobBook(dataDir, { noopStepMs: 30 });
  const q = queueOn(dataDir, book);
  try {
    await survivesFailingWrites(
      q,
      book,
      // SQLite's own read-only switch: every write fails with SQLITE_READONLY, as on a broken disk.
      () => book.db.pragma('query_only = ON'),
      () => book.db.pragma('query_only = OFF'),
    );
  } finally {
    await q.close();
    book.close();
  }
});

test('DATA_DIR on a full 2 MiB tmpfs: the job fails with a clear message, the queue stays up and recovers', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'queue-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dataDir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}; the read-only database test covers the same path`);
    return;
  }
  const filler = join(dataDir, 'filler');
  const book = new JobBook(dataDir, { noopStepMs: 30 });
  const q = queueOn(dataDir, book);
  try {
    await survivesFailingWrites(
      q,
      book,
      () => fillDisk(filler),
      () => rmSync(filler),
    );
  } finally {
    await q.close();
    book.close();
    execFileSync('umount', [dataDir]);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

async function upscaleSpec(): Promise<JobSpec> {
  const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 10, g: 20, b: 30 } } })
    .png()
    .toBuffer();
  return { ...spec('C', {}, 'noop'), kind: 'upscale', initImage: png, upscaleFactor: 2 };
}

/** Writes `path` until the file system has no space left. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // The last partial block too.
  const small = openSync(path, 'a');
  try {
    for (;;) writeSync(small, Buffer.alloc(512));
  } catch {
    // full
  } finally {
    closeSync(small);
  }
}

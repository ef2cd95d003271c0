// Worker deaths: a killed worker restarts, its job is retried once (elsewhere if possible),
// a second death fails the job with a message; a stalled worker is killed the same way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeQueue, spec, waitForEvent, waitForFinished, waitUntil } from './helpers.js';
import type { ManagedJobQueue } from '../../src/queue/index.js';

async function killWorkerOf(q: ManagedJobQueue, jobId: string): Promise<string> {
  await waitForEvent(q, 'progress', (j) => j.id === jobId);
  const w = q.workers().find((x) => x.jobId === jobId);
  assert.ok(w?.pid, 'the job runs on a live worker');
  process.kill(w.pid, 'SIGKILL');
  return w.device;
}

test('SIGKILL of a worker mid-job: the worker restarts and the job completes on retry', async () => {
  const q = makeQueue({ DEVICES: 'noop:0,noop:1', NOOP_STEP_MS: '50' });
  try {
    const job = (await q.submit(spec('A', { steps: 10 }))).job;
    const restarted = waitForEvent(q, 'started', (j) => j.id === job.id && j.attempts === 2);
    const firstDevice = await killWorkerOf(q, job.id);
    const [again] = await restarted;
    assert.notEqual(again.device, firstDevice, 'the retry prefers the other device');
    const done = await waitForFinished(q, [job.id]);
    assert.equal(done.get(job.id)?.state, 'done');
    assert.equal(q.get(job.id)?.attempts, 2);
    await waitUntil(() => q.workers().every((w) => w.alive), 20_000, 'the killed worker to restart');
    const metrics = await q.metricsRegistry.metrics();
    assert.match(metrics, /imagine_worker_restarts_total\{device="noop:\d"\} 1/);
  } finally {
    await q.close();
  }
});

test('a second crash fails the job with a clear message', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '50' });
  try {
    const job = (await q.submit(spec('A', { steps: 100 }))).job;
    await killWorkerOf(q, job.id);
    await waitForEvent(q, 'started', (j) => j.id === job.id && j.attempts === 2);
    const failed = waitForEvent(q, 'failed', (j) => j.id === job.id);
    await killWorkerOf(q, job.id);
    const [record, message] = await failed;
    assert.match(message, /crashed twice while running this job, so it was not retried/);
    assert.equal(record.state, 'failed');
    // The queue keeps working after the worker comes back.
    const next = (await q.submit(spec('A', { steps: 1 }))).job;
    assert.equal((await waitForFinished(q, [next.id])).get(next.id)?.state, 'done');
  } finally {
    await q.close();
  }
});

test('a job that makes no progress for STALL_TIMEOUT_MS is killed, retried once, then failed', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '5000', STALL_TIMEOUT_MS: '400' });
  try {
    const job = (await q.submit(spec('A', { steps: 2 }))).job;
    const [, message] = await waitForEvent(q, 'failed', (j) => j.id === job.id, 25_000);
    assert.match(message, /made no progress for 400 ms twice while running this job/);
    assert.equal(q.get(job.id)?.attempts, 2);
  } finally {
    await q.close();
  }
});

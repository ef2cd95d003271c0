// The Redis backend: the bot-side queue here, worker hosts (`npm run worker`) in separate
// processes, a throwaway redis-server in between. Skips where redis-server or ioredis is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { tinyModel } from '../support/tiny-models.js';
import { endToEndScenario } from './e2e-scenario.js';
import { spec, waitForEvent, waitForFinished, waitUntil } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';
import type { ManagedJobQueue } from '../../src/queue/index.js';

const skip = redisSkipReason();

/** SIGKILLs the device worker process running `jobId` (its pid comes from the host's heartbeat). */
async function killDeviceOf(q: ManagedJobQueue, jobId: string): Promise<void> {
  await waitForEvent(q, 'progress', (j) => j.id === jobId);
  await waitUntil(() => q.workers().some((w) => w.jobId === jobId && w.pid), 10_000, 'the heartbeat of the busy device');
  try {
    process.kill(q.workers().find((w) => w.jobId === jobId)!.pid!, 'SIGKILL');
  } catch (err) {
    // Already gone (a worker restarting between lookup and kill): the retry path is what is tested.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

test('redis backend: the end-to-end scenario, with a worker host in another process', { skip }, async () => {
  await withRedis(async (redis) => {
    const dir = await tinyModel();
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'cpu:0,cpu:1', MODELS_DIR: dirname(dir), WORKER_NAME: 'gpu-box' });
    const q = await redisQueue(redis.url, { MAX_QUEUED_PER_USER: '3', MAX_QUEUE: '4' });
    try {
      await endToEndScenario(q, { model: basename(dir), devices: 2, maxPerUser: 3 });
      assert.deepEqual(
        q.workers().map((w) => w.device),
        ['gpu-box/cpu:0', 'gpu-box/cpu:1'],
      );
      await assert.rejects(q.submit(spec('u', {}, 'nope')), /Unknown model "nope"\. Available: .*tiny/);
      const metrics = await q.metricsRegistry.metrics();
      assert.match(metrics, /imagine_jobs_total\{outcome="cancelled"\} 6/);
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

test('redis backend: a killed device worker restarts; its job is retried once, then failed', { skip }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0,noop:1', NOOP_STEP_MS: '50', WORKER_NAME: 'h' });
    const q = await redisQueue(redis.url);
    try {
      const job = (await q.submit(spec('A', { steps: 30 }))).job;
      const retried = waitForEvent(q, 'started', (j) => j.id === job.id && j.attempts === 2);
      await killDeviceOf(q, job.id);
      await retried;
      const done = await waitForFinished(q, [job.id]);
      assert.equal(done.get(job.id)?.state, 'done');

      const doomed = (await q.submit(spec('B', { steps: 150 }))).job;
      await killDeviceOf(q, doomed.id);
      await waitForEvent(q, 'started', (j) => j.id === doomed.id && j.attempts === 2);
      const failed = waitForEvent(q, 'failed', (j) => j.id === doomed.id);
      await killDeviceOf(q, doomed.id);
      const [record, message] = await failed;
      assert.equal(record.state, 'failed');
      assert.match(message, /crashed twice while running this job, so it was not retried/);
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

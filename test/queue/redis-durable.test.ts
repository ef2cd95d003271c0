// The Redis backend across restarts: a bot that comes back collects results that arrived while
// it was down; a worker host stopped mid-job puts the job back for another host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spec, tempDataDir, waitForEvent, waitForFinished } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';

const skip = redisSkipReason();

test('redis backend: a restarted bot collects results that arrived while it was down', { skip }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '30', WORKER_NAME: 'h' });
    const DATA_DIR = tempDataDir();
    const q1 = await redisQueue(redis.url, { DATA_DIR });
    const ids = [(await q1.submit(spec('A', { steps: 10 }))).job.id, (await q1.submit(spec('B', { steps: 10 }))).job.id];
    await waitForEvent(q1, 'progress', (j) => j.id === ids[0]);
    await q1.close();
    await new Promise((r) => setTimeout(r, 1500));
    const q2 = await redisQueue(redis.url, { DATA_DIR });
    try {
      const done = await waitForFinished(q2, ids, 10_000);
      for (const id of ids) {
        assert.equal(done.get(id)?.state, 'done');
        assert.equal((await q2.outputs(id)).length, 1);
      }
    } finally {
      await q2.close();
      await host.stop();
    }
  });
});

test('redis backend: a worker host stopped mid-job puts the job back for another host', { skip }, async () => {
  await withRedis(async (redis) => {
    const first = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '50', WORKER_NAME: 'first', WORKER_SHUTDOWN_GRACE_MS: '0' });
    const q = await redisQueue(redis.url);
    const second = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '5', WORKER_NAME: 'second' });
    try {
      // Two jobs: one per host, then stop the host that runs the long one.
      const long = (await q.submit(spec('A', { steps: 100 }))).job;
      await waitForEvent(q, 'progress', (j) => j.id === long.id);
      const runningOn = q.get(long.id)!.device!;
      await (runningOn.startsWith('first/') ? first : second).stop('SIGTERM');
      const done = await waitForFinished(q, [long.id], 20_000);
      assert.equal(done.get(long.id)?.state, 'done');
      assert.notEqual(q.get(long.id)?.device, runningOn);
      assert.equal(q.get(long.id)?.attempts, 1, 'an interrupted run is not an attempt');
    } finally {
      await q.close();
      await first.stop();
      await second.stop();
    }
  });
});

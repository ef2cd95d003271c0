// The safety checker's flags travel from the engine through the device worker (IPC), or a worker
// host over Redis, into JobRecord.nsfw and the jobs table: what the bot's safety setting acts on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { tinyModel, tinyModelWithSafetyChecker } from '../support/tiny-models.js';
import { makeQueue, spec, waitForFinished } from '../queue/helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from '../queue/redis-support.js';
import type { ManagedJobQueue } from '../../src/queue/index.js';

async function models() {
  const [always, never, plain] = await Promise.all([tinyModelWithSafetyChecker('always'), tinyModelWithSafetyChecker('never'), tinyModel()]);
  assert.equal(dirname(always), dirname(plain));
  return { dir: dirname(always), always: basename(always), never: basename(never), plain: basename(plain) };
}

async function flagsOf(q: ManagedJobQueue, model: string): Promise<boolean[]> {
  const { job } = await q.submit(spec('u', { count: 2 }, model));
  const done = (await waitForFinished(q, [job.id])).get(job.id)!;
  assert.equal(done.state, 'done', done.error);
  assert.deepEqual(q.get(job.id)?.nsfw, done.nsfw, 'stored as reported');
  return done.nsfw;
}

test('local backend: flags per image, [] for a model without a checker', async () => {
  const m = await models();
  const q = makeQueue({ DEVICES: 'cpu', MODELS_DIR: m.dir });
  try {
    assert.deepEqual(await flagsOf(q, m.always), [true, true]);
    assert.deepEqual(await flagsOf(q, m.never), [false, false]);
    assert.deepEqual(await flagsOf(q, m.plain), []);
  } finally {
    await q.close();
  }
});

test('redis backend: a worker host reports the flags too', { skip: redisSkipReason() }, async () => {
  const m = await models();
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'cpu:0', MODELS_DIR: m.dir, WORKER_NAME: 'box' });
    const q = await redisQueue(redis.url, { MODELS_DIR: m.dir });
    try {
      assert.deepEqual(await flagsOf(q, m.always), [true, true]);
      assert.deepEqual(await flagsOf(q, m.plain), []);
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

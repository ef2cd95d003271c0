// Model affinity on the Redis backend: jobs go to a device that has their model loaded, else,
// after a grace, to another device; a job that waited too long is served first. The plan rule
// alone, then a worker host (`npm run worker`, simulated devices) in another process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planLanes } from '../../src/queue/affinity.js';
import type { ManagedJobQueue } from '../../src/queue/index.js';
import type { JobRecord } from '../../src/queue/types.js';
import { spec, waitForEvent, waitForFinished, waitUntil } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';

const skip = redisSkipReason();
const settings = { graceMs: 1000, maxWaitMs: 10_000 };
const NOW = 1_000_000;

test('lane plan: loaded models at once; others after the grace per loaded model (a quarter when none is loaded)', () => {
  const lanes = ['alpha', 'beta', 'gamma'];
  const waiting = new Map([['beta', NOW - 300]]);
  assert.deepEqual(planLanes({ lanes, loaded: ['alpha'], headSince: waiting, now: NOW }, settings), { open: ['alpha'], recheckAt: NOW - 300 + 1000 });
  // Two models loaded: twice the grace.
  assert.deepEqual(planLanes({ lanes, loaded: ['alpha', 'gamma'], headSince: waiting, now: NOW }, settings), {
    open: ['alpha', 'gamma'],
    recheckAt: NOW - 300 + 2000,
  });
  // Nothing loaded (the least loaded device): a quarter of the grace, so beta (300 ms) is due.
  assert.deepEqual(planLanes({ lanes, loaded: [], headSince: waiting, now: NOW }, settings), { open: ['beta'] });
  // Waited the grace: open; nothing waiting elsewhere: nothing to recheck.
  assert.deepEqual(planLanes({ lanes, loaded: ['alpha'], headSince: new Map([['beta', NOW - 1000]]), now: NOW }, settings), { open: ['alpha', 'beta'] });
  // graceMs 0 turns affinity off.
  assert.deepEqual(planLanes({ lanes, loaded: ['alpha'], headSince: waiting, now: NOW }, { ...settings, graceMs: 0 }), { open: lanes });
});

test('lane plan: a lane (or the base queue) whose next job waited maxWaitMs is served alone, before loaded lanes', () => {
  const lanes = ['alpha', 'beta'];
  const plan = planLanes(
    {
      lanes,
      loaded: ['alpha'],
      headSince: new Map([
        ['alpha', NOW - 50],
        ['beta', NOW - 10_000],
      ]),
      now: NOW,
    },
    settings,
  );
  assert.deepEqual(plan.open, ['beta']);
  assert.ok(plan.recheckAt !== undefined && plan.recheckAt > NOW);
  assert.deepEqual(planLanes({ lanes, loaded: ['alpha'], headSince: new Map(), baseSince: NOW - 10_000, now: NOW }, settings).open, []);
});

/** Runs a warm-up so one device has `alpha` loaded and the other `beta`; returns their names. */
async function warmUp(q: ManagedJobQueue): Promise<{ alpha: string; beta: string }> {
  const a = (await q.submit(spec('warm-a', { steps: 9 }, 'alpha'))).job;
  await waitForEvent(q, 'started', (j) => j.id === a.id);
  // Nothing has beta loaded: it goes to the base queue, where the idle device takes it.
  const b = (await q.submit(spec('warm-b', { steps: 2 }, 'beta'))).job;
  const done = await waitForFinished(q, [a.id, b.id]);
  const alpha = done.get(a.id)!.device!;
  const beta = done.get(b.id)!.device!;
  assert.notEqual(alpha, beta);
  const loaded = (device: string) => q.workers().find((w) => w.device === device)?.loadedModels ?? [];
  await waitUntil(() => loaded(alpha).includes('alpha') && loaded(beta).includes('beta'), 10_000, 'heartbeats naming the loaded models');
  return { alpha, beta };
}

const byId = (done: Map<string, JobRecord>, id: string) => done.get(id)!;

test('redis affinity: each job runs on the device that has its model loaded; after the grace another device takes it', { skip }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({
      REDIS_URL: redis.url,
      DEVICES: 'noop:0,noop:1',
      NOOP_STEP_MS: '34',
      WORKER_NAME: 'h',
      AFFINITY_GRACE_MS: '1500',
      AFFINITY_MAX_WAIT_MS: '60000',
    });
    const q = await redisQueue(redis.url, { MAX_QUEUED_PER_USER: '10', MAX_QUEUE: '50' });
    try {
      const devices = await warmUp(q);

      // A mixed burst: without affinity the two devices would take whatever comes next.
      const burst: JobRecord[] = [];
      for (let i = 0; i < 8; i++) burst.push((await q.submit(spec(`u${i}`, { steps: 3, seed: i }, i % 2 ? 'beta' : 'alpha'))).job);
      const done = await waitForFinished(
        q,
        burst.map((j) => j.id),
      );
      for (const job of burst)
        assert.equal(
          byId(done, job.id).device,
          job.model === 'alpha' ? devices.alpha : devices.beta,
          `${job.model} job on the device with ${job.model} loaded`,
        );

      // beta's device is busy for a while; a second beta job is taken by alpha's device once it
      // has waited the grace (1.5 s), not before, and long before beta's device is free.
      const long = (await q.submit(spec('slow', { steps: 150 }, 'beta'))).job;
      await waitForEvent(q, 'started', (j) => j.id === long.id);
      assert.equal(q.get(long.id)?.device, devices.beta);
      const next = (await q.submit(spec('next', { steps: 2 }, 'beta'))).job;
      const [started] = await waitForEvent(q, 'started', (j) => j.id === next.id, 10_000);
      const waited = started.startedAt! - next.createdAt;
      assert.equal(started.device, devices.alpha);
      assert.ok(waited >= 1400 && waited < 3500, `taken after the grace, waited ${waited} ms`);
      assert.equal(q.get(long.id)?.state, 'running', 'before the device with beta loaded was free');
      await q.cancel(long.id, { userId: 'slow' });
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

test('redis affinity: a job that waited AFFINITY_MAX_WAIT_MS goes to the next device that frees up, ahead of its loaded model', { skip }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({
      REDIS_URL: redis.url,
      DEVICES: 'noop:0,noop:1',
      NOOP_STEP_MS: '34',
      WORKER_NAME: 'h',
      AFFINITY_GRACE_MS: '60000',
      AFFINITY_MAX_WAIT_MS: '600',
    });
    const q = await redisQueue(redis.url, { MAX_QUEUED_PER_USER: '20', MAX_QUEUE: '50' });
    try {
      const devices = await warmUp(q);
      // beta's device busy; alpha's device busy with a steady stream of alpha jobs.
      const long = (await q.submit(spec('slow', { steps: 150 }, 'beta'))).job;
      await waitForEvent(q, 'started', (j) => j.id === long.id);
      const stream: JobRecord[] = [];
      for (let i = 0; i < 12; i++) stream.push((await q.submit(spec(`a${i}`, { steps: 6, seed: i }, 'alpha'))).job);
      const starving = (await q.submit(spec('beta-user', { steps: 2 }, 'beta'))).job;
      const done = await waitForFinished(q, [starving.id, ...stream.map((j) => j.id)], 20_000);
      const ran = byId(done, starving.id);
      assert.equal(ran.device, devices.alpha, 'served by the device that freed up, without beta loaded');
      const waited = ran.startedAt! - ran.createdAt;
      assert.ok(waited >= 550 && waited < 2000, `after about AFFINITY_MAX_WAIT_MS, waited ${waited} ms (a grace of 60 s would have left it waiting)`);
      assert.ok(
        stream.some((j) => byId(done, j.id).startedAt! > ran.startedAt!),
        'ahead of alpha jobs still waiting',
      );
      assert.equal(q.get(long.id)?.state, 'running');
      await q.cancel(long.id, { userId: 'slow' });
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

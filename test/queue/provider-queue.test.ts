// Imagen jobs beside device jobs: the ProviderQueue runs provider-'imagen' jobs in-process with
// the real ImagenProvider against the Google stand-in, and keeps them in the same store, events
// and restarts as device jobs; a failed local job can be taken over by Imagen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadEnv } from '../../src/config/env.js';
import { ImagenProvider, type ImagenConfig } from '../../src/providers/imagen.js';
import { createJobQueue, type RedisJobQueue } from '../../src/queue/index.js';
import { ProviderQueue } from '../../src/queue/provider-queue.js';
import type { JobRecord, JobSpec } from '../../src/queue/types.js';
import { startGoogleStandIn, type GoogleStandIn } from '../support/google/index.js';
import { spec, tempDataDir, waitForEvent, waitForFinished, waitUntil } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';

let google: GoogleStandIn;
// The SDK prints a one-time deprecation warning for generateImages; keep test output readable.
const realWarn = console.warn;
before(async () => {
  google = await startGoogleStandIn();
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('generateImages method is deprecated')) realWarn(...args);
  };
});
after(async () => {
  console.warn = realWarn;
  await google.close();
});

function imagen(over: Partial<ImagenConfig> = {}, withKey = true): ImagenProvider {
  const { apiKey: _key, ...config } = {
    apiKey: google.apiKey,
    baseUrl: google.baseUrl,
    model: 'imagen-4.0-fast-generate-001',
    addWatermark: true,
    timeoutMs: 5_000,
    maxRetryMs: 5_000,
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    maxAttempts: 2,
    ...over,
  };
  return new ImagenProvider(withKey ? { ...config, apiKey: google.apiKey } : config);
}

function providerQueue(env: Record<string, string>, opts: { concurrency?: number; provider?: ImagenProvider } = {}) {
  const config = loadEnv({ DATA_DIR: tempDataDir(), DEVICES: 'noop:0', NOOP_STEP_MS: '5', ...env });
  return new ProviderQueue(createJobQueue(config), {
    dataDir: config.DATA_DIR,
    imagen: opts.provider ?? imagen(),
    concurrency: opts.concurrency ?? 2,
    caps: config,
  });
}

const onImagen = (userId: string, count = 1): JobSpec => ({ ...spec(userId, { count, width: 512, height: 512 }), provider: 'imagen' });

test('an Imagen job runs in-process: same events, store and outputs as a device job; counted per day', async () => {
  const q = providerQueue({});
  try {
    const seen: string[] = [];
    for (const e of ['queued', 'started', 'done'] as const) q.on(e, (job: JobRecord) => seen.push(`${e}:${job.provider}`));
    const { job } = await q.submit(onImagen('A', 2));
    const [done] = (await waitForFinished(q, [job.id])).values();
    assert.deepEqual(seen, ['queued:imagen', 'started:imagen', 'done:imagen']);
    assert.equal(done.state, 'done');
    assert.equal(done.device, 'imagen-4.0-fast-generate-001');
    assert.deepEqual(done.seeds, [-1, -1]);
    const pngs = await q.outputs(job.id);
    assert.equal(pngs.length, 2);
    assert.deepEqual([(await sharp(pngs[0]).metadata()).width, (await sharp(pngs[0]).metadata()).height], [64, 64]);
    assert.equal(q.imagesSince('imagen', 0), 2);
    assert.equal(q.imagesSince('imagen', 0, 'g'), 2);
    assert.equal(q.imagesSince('imagen', 0, 'another guild'), 0);
    assert.equal(q.imagesSince('imagen', Date.now() + 1), 0);
    // A device job still goes to the device.
    const local = (await q.submit(spec('A'))).job;
    const [l] = (await waitForFinished(q, [local.id])).values();
    assert.equal(l.device, 'noop:0');
    assert.equal(q.imagesSince('local', 0), 1);
  } finally {
    await q.close();
  }
});

test('IMAGEN_CONCURRENCY bounds the calls in flight; the rest wait their turn with a position', async () => {
  google.enqueue({ kind: 'delay', ms: 300 });
  const q = providerQueue({}, { concurrency: 1 });
  try {
    const first = (await q.submit(onImagen('A'))).job;
    const second = await q.submit(onImagen('B'));
    assert.equal(second.position.position, 1);
    assert.equal(q.get(first.id)?.state, 'running');
    assert.equal(q.get(second.job.id)?.state, 'queued');
    assert.deepEqual(
      q.positions().map((p) => [p.jobId, p.position]),
      [
        [first.id, 0],
        [second.job.id, 1],
      ],
    );
    const done = await waitForFinished(q, [first.id, second.job.id]);
    const [a, b] = [done.get(first.id)!, done.get(second.job.id)!];
    assert.ok(b.startedAt! >= a.finishedAt!, 'the second started after the first finished');
  } finally {
    await q.close();
  }
});

test('cancelling: a waiting Imagen job at once, a running one by aborting its call', async () => {
  google.enqueue({ kind: 'delay', ms: 5_000 });
  const calls = google.predictCalls().length;
  const q = providerQueue({}, { concurrency: 1 });
  try {
    const running = (await q.submit(onImagen('A'))).job;
    const waiting = (await q.submit(onImagen('B'))).job;
    assert.equal(await q.cancel(waiting.id, { userId: 'A' }), 'forbidden');
    assert.equal(await q.cancel(waiting.id, { userId: 'B' }), 'cancelled');
    await waitUntil(() => google.predictCalls().length > calls, 5_000, 'the call to reach Google');
    const t0 = Date.now();
    assert.equal(await q.cancel(running.id, { userId: 'A' }), 'cancelled');
    assert.ok(Date.now() - t0 < 2_000, 'the call was aborted, not waited for');
    assert.equal(q.get(running.id)?.state, 'cancelled');
    assert.equal(await q.cancel(running.id, { userId: 'A' }), 'already_finished');
  } finally {
    await q.close();
  }
});

test('close() during an Imagen call: the next start runs the job again, the interrupted try not counted', async () => {
  google.enqueue({ kind: 'delay', ms: 5_000 });
  const calls = google.predictCalls().length;
  const DATA_DIR = tempDataDir();
  const q1 = providerQueue({ DATA_DIR });
  const started = waitForEvent(q1, 'started');
  const job = (await q1.submit(onImagen('A'))).job;
  await started;
  assert.equal(q1.get(job.id)?.state, 'running');
  await waitUntil(() => google.predictCalls().length > calls, 5_000, 'the call to reach Google');
  await q1.close();

  const q2 = providerQueue({ DATA_DIR });
  try {
    assert.equal(q2.get(job.id)?.state, 'queued');
    assert.equal(q2.get(job.id)?.attempts, 0);
    const [done] = (await waitForFinished(q2, [job.id])).values();
    assert.equal(done.state, 'done', done.error);
    assert.equal(done.attempts, 1);
    assert.equal(done.provider, 'imagen');
    assert.equal((await q2.outputs(job.id)).length, 1);
  } finally {
    await q2.close();
  }
});

test('a local job that failed for good is re-run on Imagen when the handler says so, else reported as failed', async () => {
  const MODELS_DIR = join(tempDataDir(), 'models');
  mkdirSync(join(MODELS_DIR, 'broken'), { recursive: true }); // a folder, but no model in it
  const q = providerQueue({ DEVICES: 'cpu', MODELS_DIR });
  try {
    const asked: string[] = [];
    q.setLocalFailureHandler((job, error) => {
      asked.push(error);
      return job.request.prompt === 'rescue me';
    });
    const failedEvents: string[] = [];
    q.on('failed', (job) => failedEvents.push(job.id));

    const rescued = (await q.submit({ ...spec('A', {}, 'broken'), request: { ...spec('A').request, prompt: 'rescue me' } })).job;
    const [r] = (await waitForFinished(q, [rescued.id])).values();
    assert.equal(r.state, 'done', r.error);
    assert.equal(r.provider, 'imagen');
    assert.equal(r.device, 'imagen-4.0-fast-generate-001');
    assert.ok(r.error && asked.includes(r.error), 'the local failure stays on the record for the embed');
    assert.deepEqual(failedEvents, []);

    const lost = (await q.submit(spec('A', {}, 'broken'))).job;
    const [l] = (await waitForFinished(q, [lost.id])).values();
    assert.equal(l.state, 'failed');
    assert.equal(l.provider, undefined);
    assert.deepEqual(failedEvents, [lost.id]);
    assert.equal(asked.length, 2);
  } finally {
    await q.close();
  }
});

test('no device: capacity says so; the queue is healthy when Imagen is on, not when it is off', async () => {
  const on = providerQueue({ DEVICES: 'none' });
  const off = providerQueue({ DEVICES: 'none' }, { provider: imagen({}, false) });
  try {
    assert.deepEqual(on.localCapacity(spec('A')), { devices: 0, etaMs: 0 });
    assert.equal(on.health().ok, true);
    assert.equal(off.health().ok, false);
    assert.equal(off.imagenConfigured, false);
  } finally {
    await Promise.all([on.close(), off.close()]);
  }
});

test('local capacity: an idle device starts at once; behind a long job the wait is that job', async () => {
  const q = providerQueue({ NOOP_STEP_MS: '100' });
  try {
    await q.whenReady();
    const idle = q.localCapacity(spec('B', { steps: 2 }));
    assert.equal(idle.devices, 1);
    const long = (await q.submit(spec('A', { steps: 50 }))).job;
    const busy = q.localCapacity(spec('B', { steps: 2 }));
    assert.ok(busy.etaMs >= 4_000, `about 5 s behind the long job, got ${busy.etaMs} ms`);
    assert.ok(idle.etaMs <= busy.etaMs);
    assert.equal(await q.cancel(long.id, { userId: 'A' }), 'cancelled');
  } finally {
    await q.close();
  }
});

test('redis backend: Imagen jobs run in the bot process, never on a worker host, also after a restart', { skip: redisSkipReason() }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '5', WORKER_NAME: 'h' });
    const DATA_DIR = tempDataDir();
    const open = async () => {
      const inner = (await redisQueue(redis.url, { DATA_DIR })) as RedisJobQueue;
      return new ProviderQueue(inner, { dataDir: DATA_DIR, imagen: imagen(), concurrency: 1, caps: { MAX_QUEUE: 100, MAX_QUEUED_PER_USER: 5 }, owner: inner.owner });
    };
    let q = await open();
    try {
      await waitUntil(() => q.workers().length > 0, 15_000, "the worker host's heartbeat");
      assert.equal(q.localCapacity(spec('A')).devices, 1, 'a noop device runs any model');
      const local = (await q.submit(spec('A'))).job;
      const imagenJob = (await q.submit(onImagen('A'))).job;
      const done = await waitForFinished(q, [local.id, imagenJob.id]);
      assert.equal(done.get(local.id)?.device, 'h/noop:0');
      assert.equal(done.get(imagenJob.id)?.device, 'imagen-4.0-fast-generate-001');

      // Interrupted mid-call: the next bot resumes it itself; Redis never sees it.
      google.enqueue({ kind: 'delay', ms: 5_000 });
      const calls = google.predictCalls().length;
      const cut = (await q.submit(onImagen('A'))).job;
      await waitUntil(() => google.predictCalls().length > calls, 5_000, 'the call to reach Google');
      await q.close();
      q = await open();
      const [resumed] = (await waitForFinished(q, [cut.id])).values();
      assert.equal(resumed.state, 'done');
      assert.equal(resumed.device, 'imagen-4.0-fast-generate-001');
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

// Cloud jobs beside device jobs: the ProviderQueue runs provider-'imagen' (cloud) jobs in-process
// with the real GeminiImageProvider against the Google stand-in, and keeps them in the same store,
// events and restarts as device jobs; a failed local job can be taken over by the cloud; an
// image job is a real edit (the input image goes to the model); billed tokens are recorded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadEnv } from '../../src/config/env.js';
import type { GoogleImageConfig } from '../../src/config/google.js';
import { GeminiImageProvider } from '../../src/providers/gemini.js';
import { createJobQueue, JobBook, type RedisJobQueue } from '../../src/queue/index.js';
import { ProviderQueue } from '../../src/queue/provider-queue.js';
import type { JobRecord, JobSpec } from '../../src/queue/types.js';
import { STORAGE_FULL_MESSAGE } from '../../src/store/storage-errors.js';
import { startGoogleStandIn, type GoogleStandIn } from '../support/google/index.js';
import { spec, tempDataDir, waitForEvent, waitForFinished, waitUntil } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';

let google: GoogleStandIn;
before(async () => {
  google = await startGoogleStandIn();
});
after(async () => {
  await google.close();
});

const MODEL = 'gemini-3.1-flash-image';

function imagen(over: Partial<GoogleImageConfig> = {}, withKey = true, concurrency = 2): GeminiImageProvider {
  const { apiKey: _key, ...config } = {
    api: 'gemini' as const,
    apiKey: google.apiKey,
    baseUrl: google.baseUrl,
    model: MODEL,
    thinkingLevel: 'MINIMAL' as const,
    addWatermark: true,
    timeoutMs: 5_000,
    maxRetryMs: 5_000,
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    maxAttempts: 2,
    ...over,
  };
  return new GeminiImageProvider(withKey ? { ...config, apiKey: google.apiKey } : config, { concurrency });
}

function providerQueue(env: Record<string, string>, opts: { concurrency?: number; provider?: GeminiImageProvider } = {}) {
  const config = loadEnv({ DATA_DIR: tempDataDir(), DEVICES: 'noop:0', NOOP_STEP_MS: '5', ...env });
  return new ProviderQueue(createJobQueue(config), {
    dataDir: config.DATA_DIR,
    cloud: opts.provider ?? imagen({}, true, opts.concurrency ?? 2),
    concurrency: opts.concurrency ?? 2,
    caps: config,
  });
}

const onImagen = (userId: string, count = 1): JobSpec => ({ ...spec(userId, { count, width: 512, height: 512 }), provider: 'imagen' });

test('a cloud job runs in-process: same events, store and outputs as a device job; counted per day in images; tokens recorded', async () => {
  const q = providerQueue({});
  try {
    const seen: string[] = [];
    for (const e of ['queued', 'started', 'done'] as const) q.on(e, (job: JobRecord) => seen.push(`${e}:${job.provider}`));
    const { job } = await q.submit(onImagen('A', 2));
    const [done] = (await waitForFinished(q, [job.id])).values();
    assert.deepEqual(seen, ['queued:imagen', 'started:imagen', 'done:imagen']);
    assert.equal(done.state, 'done');
    assert.equal(done.device, MODEL);
    assert.deepEqual(done.seeds, [-1, -1]);
    const pngs = await q.outputs(job.id);
    assert.equal(pngs.length, 2);
    // 512×512 asks for Gemini's 512 size at 1:1; the stand-in serves sizes / 16.
    assert.deepEqual([(await sharp(pngs[0]).metadata()).width, (await sharp(pngs[0]).metadata()).height], [32, 32]);
    assert.equal(q.imagesSince('imagen', 0), 2);
    assert.equal(q.imagesSince('imagen', 0, 'g'), 2);
    assert.equal(q.imagesSince('imagen', 0, 'another guild'), 0);
    assert.equal(q.imagesSince('imagen', Date.now() + 1), 0);
    // Two images are two generateContent calls; their usageMetadata is summed per attempt.
    const [usage] = q.cloudUsage.forJob(job.id);
    assert.deepEqual(
      {
        calls: usage.calls,
        images: usage.images,
        prompt: usage.promptTokens,
        output: usage.outputTokens,
        total: usage.totalTokens,
        model: usage.model,
        guild: usage.guildId,
      },
      { calls: 2, images: 2, prompt: 24, output: 2580, total: 2684, model: MODEL, guild: 'g' },
    );
    // A device job still goes to the device.
    const local = (await q.submit(spec('A'))).job;
    const [l] = (await waitForFinished(q, [local.id])).values();
    assert.equal(l.device, 'noop:0');
    assert.equal(q.imagesSince('local', 0), 1);
  } finally {
    await q.close();
  }
});

test('IMAGEN_CONCURRENCY bounds the jobs in flight; the rest wait their turn with a position', async () => {
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

test('cancelling: a waiting cloud job at once, a running one by aborting its call', async () => {
  google.enqueue({ kind: 'delay', ms: 5_000 });
  const calls = google.generateCalls().length;
  const q = providerQueue({}, { concurrency: 1 });
  try {
    const running = (await q.submit(onImagen('A'))).job;
    const waiting = (await q.submit(onImagen('B'))).job;
    assert.equal(await q.cancel(waiting.id, { userId: 'A' }), 'forbidden');
    assert.equal(await q.cancel(waiting.id, { userId: 'B' }), 'cancelled');
    await waitUntil(() => google.generateCalls().length > calls, 5_000, 'the call to reach Google');
    const t0 = Date.now();
    assert.equal(await q.cancel(running.id, { userId: 'A' }), 'cancelled');
    assert.ok(Date.now() - t0 < 2_000, 'the call was aborted, not waited for');
    assert.equal(q.get(running.id)?.state, 'cancelled');
    assert.equal(await q.cancel(running.id, { userId: 'A' }), 'already_finished');
  } finally {
    await q.close();
  }
});

test('close() during a cloud call: the next start runs the job again, the interrupted try not counted', async () => {
  google.enqueue({ kind: 'delay', ms: 5_000 });
  const calls = google.generateCalls().length;
  const DATA_DIR = tempDataDir();
  const q1 = providerQueue({ DATA_DIR });
  const started = waitForEvent(q1, 'started');
  const job = (await q1.submit(onImagen('A'))).job;
  await started;
  assert.equal(q1.get(job.id)?.state, 'running');
  await waitUntil(() => google.generateCalls().length > calls, 5_000, 'the call to reach Google');
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

test('a local job that failed for good is re-run in the cloud when the handler says so, else reported as failed', async () => {
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
    assert.equal(r.device, MODEL);
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

test('a local image-to-image job that failed is re-run in the cloud as an edit of its stored input', async () => {
  const MODELS_DIR = join(tempDataDir(), 'models');
  mkdirSync(join(MODELS_DIR, 'broken'), { recursive: true });
  const q = providerQueue({ DEVICES: 'cpu', MODELS_DIR });
  try {
    q.setLocalFailureHandler(() => true);
    const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .png()
      .toBuffer();
    const calls = google.generateCalls().length;
    const job = (await q.submit({ ...spec('A', { strength: 0.5 }, 'broken'), kind: 'img2img', initImage: input })).job;
    const [r] = (await waitForFinished(q, [job.id])).values();
    assert.equal(r.state, 'done', r.error);
    assert.equal(r.provider, 'imagen');
    const [call] = google.generateCalls().slice(calls);
    const parts = (call.body as { contents: { parts: { inlineData?: { data: string } }[] }[] }).contents[0].parts;
    assert.ok(parts[1]?.inlineData?.data, 'the stored input went to the model');
    const { data } = await sharp((await q.outputs(job.id))[0])
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.deepEqual([data[0], data[1], data[2]], [255, 255, 0], "the edit of the job's input");
  } finally {
    await q.close();
  }
});

test('no device: capacity says so; the queue is healthy when the cloud is on, not when it is off', async () => {
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

test('an image job on the cloud is an edit: the input image and the prompt go to the model; a refusal fails it with the reason', async () => {
  const q = providerQueue({}, { concurrency: 2 });
  try {
    const input = await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 10, g: 200, b: 60 } } })
      .png()
      .toBuffer();
    const calls = google.generateCalls().length;
    const edit: JobSpec = { ...spec('A', { count: 1, width: 640, height: 480, strength: 0.5 }), kind: 'img2img', initImage: input, provider: 'imagen' };
    assert.equal(q.imagenUnsupported(edit), undefined, 'Gemini takes image jobs');
    const { job } = await q.submit(edit);
    const [done] = (await waitForFinished(q, [job.id])).values();
    assert.equal(done.state, 'done', done.error);
    assert.deepEqual(await q.input(job.id), input, "the input is kept like a device job's");
    const [call] = google.generateCalls().slice(calls);
    const body = call.body as { contents: { parts: { text?: string; inlineData?: { mimeType: string; data: string } }[] }[]; generationConfig: object };
    assert.equal(body.contents[0].parts[0].text, spec('A').request.prompt);
    const sent = body.contents[0].parts[1].inlineData!;
    assert.equal(sent.mimeType, 'image/png');
    assert.deepEqual(
      await sharp(Buffer.from(sent.data, 'base64'))
        .metadata()
        .then((m) => [m.width, m.height]),
      [32, 24],
    );
    assert.deepEqual(body.generationConfig, {
      responseModalities: ['IMAGE'],
      candidateCount: 1,
      thinkingConfig: { thinkingLevel: 'MINIMAL' },
      imageConfig: { aspectRatio: '4:3' },
    });
    // The stand-in answers an edit with its input's negative: the model really got the image.
    const [png] = await q.outputs(job.id);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([data[0], data[1], data[2]], [245, 55, 195]);

    google.enqueue({ kind: 'blocked', reason: 'PROHIBITED_CONTENT' });
    const refused = (await q.submit(onImagen('B'))).job;
    const [r] = (await waitForFinished(q, [refused.id])).values();
    assert.equal(r.state, 'failed');
    assert.match(r.error ?? '', /Gemini 3\.1 Flash Image \(gemini-3\.1-flash-image\) drew no image: Google blocked the prompt \(PROHIBITED_CONTENT\)/);
    assert.equal(q.cloudUsage.forJob(refused.id)[0].promptTokens, 12, 'a refusal still bills its prompt');
    // Upscales never go to the cloud.
    assert.match(q.imagenUnsupported({ ...edit, kind: 'upscale' }) ?? '', /Upscaling runs on the local engine only/);
  } finally {
    await q.close();
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

test('redis backend: cloud jobs run in the bot process, never on a worker host, also after a restart', { skip: redisSkipReason() }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '5', WORKER_NAME: 'h' });
    const DATA_DIR = tempDataDir();
    const open = async () => {
      const inner = (await redisQueue(redis.url, { DATA_DIR })) as RedisJobQueue;
      return new ProviderQueue(inner, {
        dataDir: DATA_DIR,
        cloud: imagen(),
        concurrency: 1,
        caps: { MAX_QUEUE: 100, MAX_QUEUED_PER_USER: 5 },
        owner: inner.owner,
      });
    };
    let q = await open();
    try {
      await waitUntil(() => q.workers().length > 0, 15_000, "the worker host's heartbeat");
      assert.equal(q.localCapacity(spec('A')).devices, 1, 'a noop device runs any model');
      const local = (await q.submit(spec('A'))).job;
      const imagenJob = (await q.submit(onImagen('A'))).job;
      const done = await waitForFinished(q, [local.id, imagenJob.id]);
      assert.equal(done.get(local.id)?.device, 'h/noop:0');
      assert.equal(done.get(imagenJob.id)?.device, MODEL);

      // Interrupted mid-call: the next bot resumes it itself; Redis never sees it.
      google.enqueue({ kind: 'delay', ms: 5_000 });
      const calls = google.generateCalls().length;
      const cut = (await q.submit(onImagen('A'))).job;
      await waitUntil(() => google.generateCalls().length > calls, 5_000, 'the call to reach Google');
      await q.close();
      q = await open();
      const [resumed] = (await waitForFinished(q, [cut.id])).values();
      assert.equal(resumed.state, 'done');
      assert.equal(resumed.device, MODEL);
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

test('a cloud job on a database that refuses writes fails with the storage message; the queue stays up and recovers', async () => {
  const config = loadEnv({ DATA_DIR: tempDataDir(), DEVICES: 'noop:0', NOOP_STEP_MS: '5' });
  const book = new JobBook(config.DATA_DIR, { noopStepMs: 5 });
  const q = new ProviderQueue(createJobQueue(config, { book }), { dataDir: config.DATA_DIR, book, cloud: imagen(), concurrency: 2, caps: config });
  try {
    google.enqueue({ kind: 'delay', ms: 300 });
    const started = waitForEvent(q, 'started', () => true);
    const { job } = await q.submit(onImagen('A'));
    await started;
    // SQLite's own read-only switch: every write fails with SQLITE_READONLY, as on a full disk.
    book.db.pragma('query_only = ON');
    const [failed, message] = await waitForEvent(q, 'failed', (j) => j.id === job.id);
    assert.equal(failed.state, 'failed');
    assert.equal(message, STORAGE_FULL_MESSAGE, 'a done that cannot be saved is a failure saying why');
    await assert.rejects(q.submit(onImagen('B')), (err: Error) => err.message === STORAGE_FULL_MESSAGE, 'a new cloud job is refused with it');
    book.db.pragma('query_only = OFF');
    await waitUntil(() => book.store.get(job.id)?.state === 'failed', 10_000, 'the failed state to be written once writes work');
    const { job: next } = await q.submit(onImagen('B'));
    assert.equal((await waitForFinished(q, [next.id])).get(next.id)?.state, 'done', 'cloud jobs run again');
  } finally {
    await q.close();
    book.close();
  }
});

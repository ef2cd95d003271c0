// An inpainting mask travels with its job: stored beside the input, read by the local device
// worker, and sent to a Redis worker host as base64. The kept (black) half of the result is the
// input's pixels, which only holds when the mask arrived.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import sharp from 'sharp';
import { tinyModel } from '../support/tiny-models.js';
import { makeQueue, spec, waitForFinished } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';
import type { ManagedJobQueue } from '../../src/queue/index.js';

const halves = (left: number, right: number) => {
  const px = Buffer.alloc(64 * 64 * 3);
  for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) px.fill(x < 32 ? left : right, (y * 64 + x) * 3, (y * 64 + x) * 3 + 3);
  return sharp(px, { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toBuffer();
};

/** Submits a masked job (repaint the left half, keep the right) and checks the kept half. */
async function masked(q: ManagedJobQueue, model: string): Promise<void> {
  const input = await halves(200, 40);
  const mask = await halves(255, 0);
  const { job } = await q.submit({ ...spec('u', { strength: 1 }, model), kind: 'img2img', initImage: input, maskImage: mask });
  assert.ok(job.maskImagePath && existsSync(job.maskImagePath), 'the mask is stored beside the input');
  const done = (await waitForFinished(q, [job.id], 60_000)).get(job.id)!;
  assert.equal(done.state, 'done', done.error);
  const [png] = await q.outputs(job.id);
  const kept = await sharp(png).extract({ left: 40, top: 0, width: 24, height: 64 }).removeAlpha().raw().toBuffer();
  assert.ok(
    kept.every((v) => v === 40),
    'the kept half is the input, pixel for pixel',
  );
  await assert.rejects(q.submit({ ...spec('u', {}, model), maskImage: mask }), /inpainting mask needs an image/);
}

test('local queue: the mask reaches the device worker', async () => {
  const dir = await tinyModel();
  const q = makeQueue({ DEVICES: 'cpu', MODELS_DIR: dirname(dir) });
  try {
    await masked(q, basename(dir));
  } finally {
    await q.close();
  }
});

test('redis backend: the mask reaches a worker host in another process', { skip: redisSkipReason() }, async () => {
  await withRedis(async (redis) => {
    const dir = await tinyModel();
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'cpu:0', MODELS_DIR: dirname(dir) });
    const q = await redisQueue(redis.url);
    try {
      await masked(q, basename(dir));
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

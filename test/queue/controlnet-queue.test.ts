// A ControlNet job through both backends: its control image is stored with the job under
// DATA_DIR/inputs (control_image_path), reaches the device worker (a file path locally, base64 on
// Redis) and the result records the ControlNet; a job whose control image is gone fails saying so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import sharp from 'sharp';
import { pngParameters } from '../../src/diffusion/png.js';
import type { JobSpec } from '../../src/queue/types.js';
import { tinyControlNetModels } from '../support/tiny-models.js';
import { makeQueue, spec, waitForFinished } from './helpers.js';
import { redisQueue, redisSkipReason, startWorkerHost, withRedis } from './redis-support.js';

async function controlPng(): Promise<Buffer> {
  const box = await sharp({ create: { width: 30, height: 30, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  return sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
    .composite([{ input: box, left: 17, top: 17 }])
    .png()
    .toBuffer();
}

function controlSpec(image: Buffer): JobSpec {
  const s = spec('u', { controlnet: { model: 'canny', scale: 0.9 }, scheduler: 'euler' }, 'tiny-cn');
  return { ...s, controlImage: image };
}

test('local backend: the control image is stored with the job and used by the worker; gone, the job fails saying so', async () => {
  const { modelsDir } = await tinyControlNetModels();
  const q = makeQueue({ DEVICES: 'cpu:0', MODELS_DIR: modelsDir });
  try {
    const image = await controlPng();
    const { job } = await q.submit(controlSpec(image));
    assert.ok(job.controlImagePath && existsSync(job.controlImagePath), 'stored under DATA_DIR/inputs');
    assert.match(job.controlImagePath, /inputs\/.*-control\.png$/);
    const done = (await waitForFinished(q, [job.id], 90_000)).get(job.id)!;
    assert.equal(done.state, 'done', done.error);
    assert.equal(q.get(job.id)?.controlImagePath, job.controlImagePath, 'the record keeps the path');
    const [png] = await q.outputs(job.id);
    assert.match(pngParameters(png) ?? '', /ControlNet 0: "Module: canny, Model: canny, Weight: 0\.9/);

    // The device is kept busy, so the lost job waits in line and its image is gone before it runs.
    await q.submit(spec('u', { steps: 60, width: 256, height: 256 }, 'tiny-cn'));
    const lost = await q.submit(controlSpec(image));
    rmSync(lost.job.controlImagePath!);
    const failed = (await waitForFinished(q, [lost.job.id], 90_000)).get(lost.job.id)!;
    assert.equal(failed.state, 'failed');
    assert.match(failed.error ?? '', /control image of this job is gone/);
  } finally {
    await q.close();
  }
});

const skip = redisSkipReason();
test('redis backend: the control image travels to the worker host with the job', { skip }, async () => {
  const { modelsDir } = await tinyControlNetModels();
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'cpu:0', MODELS_DIR: modelsDir, WORKER_NAME: 'box' });
    const q = await redisQueue(redis.url);
    try {
      const { job } = await q.submit(controlSpec(await controlPng()));
      assert.ok(job.controlImagePath && existsSync(job.controlImagePath), 'the bot side keeps it too (V and 🔄 reuse it)');
      const done = (await waitForFinished(q, [job.id], 90_000)).get(job.id)!;
      assert.equal(done.state, 'done', done.error);
      const [png] = await q.outputs(job.id);
      assert.match(pngParameters(png) ?? '', /ControlNet 0: "Module: canny, Model: canny, Weight: 0\.9/);
    } finally {
      await q.close();
      await host.stop();
    }
  });
});

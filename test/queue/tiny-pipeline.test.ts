// The real engine behind the queue: tiny random-weight models on two CPU workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import sharp from 'sharp';
import { tinyModel } from '../support/tiny-models.js';
import { makeQueue, spec, waitForEvent, waitForFinished } from './helpers.js';

test('jobs run on both CPU workers and produce 64×64 PNGs', async () => {
  const dir = await tinyModel();
  const q = makeQueue({ DEVICES: 'cpu:0,cpu:1', MODELS_DIR: dirname(dir) });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await q.submit(spec(`u${i}`, { seed: i, steps: 2 }, basename(dir)))).job.id);
    const previews: number[] = [];
    q.on('progress', (_j, p) => previews.push(p.preview?.rgb.length ?? 0));
    const done = await waitForFinished(q, ids, 35_000);
    for (const j of done.values()) assert.equal(j.state, 'done', j.error);
    assert.deepEqual(new Set([...done.values()].map((j) => j.device)), new Set(['cpu:0', 'cpu:1']));
    const [png] = await q.outputs(ids[0]);
    const meta = await sharp(png).metadata();
    assert.equal(meta.width, 64);
    assert.equal(meta.height, 64);
    assert.ok(previews.some((n) => n > 0), 'progress carries preview pixels');
    assert.ok(q.get(ids[0])!.timings!.totalMs > 0);
    assert.ok(q.workers().every((w) => w.loadedModels.includes(basename(dir))));

    // A running real job stops at its next step when cancelled.
    const long = (await q.submit(spec('u9', { steps: 150 }, basename(dir)))).job;
    await waitForEvent(q, 'progress', (j, p) => j.id === long.id && p.step >= 1, 20_000);
    assert.equal(await q.cancel(long.id, { userId: 'u9' }), 'cancelled');
    assert.equal(q.get(long.id)?.state, 'cancelled');
  } finally {
    await q.close();
  }
});

test('an unknown model is refused at submit time with the available names', async () => {
  const dir = await tinyModel();
  const q = makeQueue({ DEVICES: 'cpu:0', MODELS_DIR: dirname(dir) });
  try {
    await assert.rejects(q.submit(spec('u', {}, 'nope')), /Unknown model "nope"\. Available: .*tiny/);
    await assert.rejects(q.submit(spec('u', {}, '../etc')), /is not a model name/);
  } finally {
    await q.close();
  }
});

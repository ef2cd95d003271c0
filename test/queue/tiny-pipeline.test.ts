// The local backend end to end on the real engine: tiny random-weight models on two CPU
// worker processes (the Redis backend runs the same scenario in redis.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { tinyModel } from '../support/tiny-models.js';
import { endToEndScenario } from './e2e-scenario.js';
import { makeQueue, spec } from './helpers.js';

test('local backend: fairness, progress, outputs, caps and cancellation on two CPU workers', async () => {
  const dir = await tinyModel();
  const q = makeQueue({ DEVICES: 'cpu:0,cpu:1', MODELS_DIR: dirname(dir), MAX_QUEUED_PER_USER: '3', MAX_QUEUE: '4' });
  try {
    await endToEndScenario(q, { model: basename(dir), devices: 2, maxPerUser: 3 });
    assert.ok(
      q.workers().every((w) => w.loadedModels.includes(basename(dir))),
      'both workers keep the model loaded',
    );
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

// Job requests are checked with the engine's own schema wherever they cross a boundary: at
// submit (a clear refusal), before a runner sends one to its worker, and in the worker itself
// (a malformed job gets a 'failed' answer rather than silence and a stall).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../src/diffusion/errors.js';
import { DeviceRunner, JobFailedError } from '../../src/queue/device-runner.js';
import type { FromWorker, RunJob } from '../../src/queue/ipc.js';
import { WorkerHandle } from '../../src/queue/worker-handle.js';
import { makeQueue, spec, tempDataDir, waitForFinished } from './helpers.js';

const workerOptions = { device: 'noop:0', modelsDir: tempDataDir(), noopStepMs: 1, maxLoadedModels: 1, memoryBudgetMb: 0 };

function runJob(request: Partial<RunJob['request']> = {}): RunJob {
  return {
    id: `ipc-${Math.random()}`,
    kind: 'txt2img',
    model: 'noop',
    request: { prompt: 'p', seed: 1, steps: 2, guidanceScale: 7, width: 64, height: 64, count: 1, ...request },
    outputDir: tempDataDir(),
  };
}

test('submit refuses a request outside the engine limits with the engine message', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '1' });
  try {
    await assert.rejects(q.submit(spec('A', { steps: 500, width: 65 })), (err: Error) => {
      assert.ok(err instanceof InputError);
      assert.match(err.message, /steps must be at most 150/);
      assert.match(err.message, /width must be a multiple of 8/);
      return true;
    });
    const { job } = await q.submit(spec('A'));
    assert.equal((await waitForFinished(q, [job.id])).get(job.id)?.state, 'done', 'valid requests run as before');
  } finally {
    await q.close();
  }
});

test('a device runner fails an invalid job with the reason, without sending it; its worker stays usable', async () => {
  const runner = new DeviceRunner('noop:0', workerOptions, { stallTimeoutMs: 10_000, cancelGraceMs: 1000 });
  runner.start();
  try {
    await runner.whenReady();
    await assert.rejects(
      runner.run(runJob({ steps: 0 }), () => undefined),
      (err: Error) => err instanceof JobFailedError && /steps must be at least 1/.test(err.message),
    );
    const done = await runner.run(runJob(), () => undefined);
    assert.equal(done.outputs.length, 1);
  } finally {
    await runner.close();
  }
});

test('a worker answers a malformed run message with failed, naming the problem', async () => {
  const handle = new WorkerHandle(workerOptions);
  const messages: FromWorker[] = [];
  const ready = new Promise<void>((resolve) =>
    handle.on('message', (m) => {
      messages.push(m);
      if (m.type === 'ready') resolve();
    }),
  );
  handle.start();
  try {
    await ready;
    const bad = runJob({ guidanceScale: 99 });
    handle.run(bad);
    const deadline = Date.now() + 10_000;
    while (!messages.some((m) => m.type === 'failed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const failed = messages.find((m) => m.type === 'failed');
    assert.ok(failed && failed.type === 'failed', 'the worker answered');
    assert.equal(failed.jobId, bad.id);
    assert.match(failed.message, /guidance must be at most 30/);
  } finally {
    await handle.kill();
  }
});

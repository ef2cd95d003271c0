// Durability: jobs survive a clean close and a SIGKILLed parent, resuming in order with the
// interrupted job first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadEnv } from '../../src/config/env.js';
import { createJobQueue, JobBook } from '../../src/queue/index.js';
import { spec, tempDataDir, waitForEvent, waitForFinished, waitUntil } from './helpers.js';
import { isolated, entryArgs } from '../support/child-process.js';

test('close() with jobs running and waiting: the next queue on the same DATA_DIR resumes them', async () => {
  const DATA_DIR = tempDataDir();
  const env = { DEVICES: 'noop:0', NOOP_STEP_MS: '50', DATA_DIR };
  const q1 = createJobQueue(loadEnv(env));
  const running = (await q1.submit(spec('A', { steps: 100 }))).job;
  const waiting = [(await q1.submit(spec('B', { steps: 2 }))).job.id, (await q1.submit(spec('C', { steps: 2 }))).job.id];
  await waitForEvent(q1, 'progress', (j) => j.id === running.id);
  await q1.close();

  const q2 = createJobQueue(loadEnv({ ...env, NOOP_STEP_MS: '5' }));
  try {
    assert.equal(q2.get(running.id)?.state, 'queued');
    assert.equal(q2.get(running.id)?.attempts, 0, 'an interrupted run does not count as an attempt');
    const order: string[] = [];
    q2.on('started', (j) => order.push(j.id));
    const done = await waitForFinished(q2, [running.id, ...waiting]);
    assert.deepEqual(order, [running.id, ...waiting]);
    for (const j of done.values()) assert.equal(j.state, 'done');
    assert.equal((await q2.outputs(running.id)).length, 1);
  } finally {
    await q2.close();
  }
});

test('a SIGKILLed parent: its workers exit and the next start resumes every job', async () => {
  const DATA_DIR = tempDataDir();
  const script = fileURLToPath(new URL('./fixtures/queue-parent.ts', import.meta.url));
  const parent = spawn(process.execPath, entryArgs(script, DATA_DIR), { stdio: ['ignore', 'pipe', 'inherit'], ...isolated() });
  const lines = createInterface({ input: parent.stdout! });
  const first = await new Promise<{ ids: string[]; pids: number[] }>((resolve, reject) => {
    lines.once('line', (l) => resolve(JSON.parse(l)));
    parent.once('exit', () => reject(new Error('the parent script exited early')));
  });
  parent.kill('SIGKILL');
  await new Promise((r) => parent.once('exit', r));
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  await waitUntil(() => first.pids.every((p) => !alive(p)), 10_000, 'orphaned workers to exit');

  const q = createJobQueue(loadEnv({ DEVICES: 'noop:0', NOOP_STEP_MS: '2', DATA_DIR }));
  try {
    const order: string[] = [];
    q.on('started', (j) => order.push(j.id));
    const done = await waitForFinished(q, first.ids);
    assert.deepEqual(order, first.ids, 'the interrupted job first, then the rest in order');
    for (const j of done.values()) assert.equal(j.state, 'done');
  } finally {
    await q.close();
  }
});

test('an uncaught exception: the process logs it and shuts down cleanly, checkpointing the running job', async () => {
  const DATA_DIR = tempDataDir();
  const script = fileURLToPath(new URL('./fixtures/queue-parent.ts', import.meta.url));
  const parent = spawn(process.execPath, entryArgs(script, DATA_DIR, 'throw'), { stdio: ['ignore', 'pipe', 'pipe'], ...isolated() });
  // stdout carries the fixture's report, stderr pino's log lines.
  const out: string[] = [];
  const log: string[] = [];
  createInterface({ input: parent.stdout! }).on('line', (l) => out.push(l));
  createInterface({ input: parent.stderr! }).on('line', (l) => log.push(l));
  const code = await new Promise<number | null>((resolve) => parent.once('exit', (c) => resolve(c)));
  const report = out.find((l) => l.startsWith('{"ids"'));
  assert.ok(report, `the first job ran; output:\n${out.join('\n')}\n${log.join('\n')}`);
  const { ids } = JSON.parse(report) as { ids: string[] };
  assert.equal(code, 1, 'it exits with an error code');
  const lines = log.flatMap((l) => {
    try {
      return [JSON.parse(l) as { level?: number; msg?: string; err?: { message?: string } }];
    } catch {
      return [];
    }
  });
  const fatal = lines.find((l) => l.level === 60);
  assert.equal(fatal?.msg, 'unexpected error; shutting down cleanly', log.join('\n'));
  assert.equal(fatal?.err?.message, 'a bug nobody caught');
  const book = new JobBook(DATA_DIR);
  try {
    const row = book.store.get(ids[0]);
    assert.equal(row?.state, 'queued', 'closed cleanly: the running job was checkpointed, not left running');
    assert.equal(row?.attempts, 0, 'the interrupted run does not count');
  } finally {
    book.close();
  }
});

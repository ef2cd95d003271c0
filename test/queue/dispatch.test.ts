// Dispatcher behaviour on simulated (noop) devices: fairness, caps, cancellation, positions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueLimitError } from '../../src/queue/types.js';
import { makeQueue, spec, waitForEvent, waitForFinished, waitUntil } from './helpers.js';

test("a late user is served before the first user's backlog (round-robin)", async () => {
  const q = makeQueue({ DEVICES: 'noop:0,noop:1', NOOP_STEP_MS: '40', MAX_QUEUED_PER_USER: '10' });
  try {
    const startOrder: string[] = [];
    q.on('started', (j) => startOrder.push(`${j.requester.userId}:${j.id}`));
    const a = [];
    for (let i = 0; i < 6; i++) a.push((await q.submit(spec('A', { steps: 3 }))).job.id);
    const b = [];
    for (let i = 0; i < 2; i++) b.push((await q.submit(spec('B', { steps: 3 }))).job.id);
    await waitForFinished(q, [...a, ...b]);
    const at = (id: string) => startOrder.findIndex((s) => s.endsWith(id));
    assert.ok(at(b[1]) < at(a[5]), `B's last job should start before A's last: ${startOrder.map((s) => s[0]).join('')}`);
    assert.ok(at(b[0]) < at(a[4]), `B's first job should start early: ${startOrder.map((s) => s[0]).join('')}`);
    const devices = new Set([...a, ...b].map((id) => q.get(id)!.device));
    assert.deepEqual([...devices].sort(), ['noop:0', 'noop:1']);
  } finally {
    await q.close();
  }
});

test('per-user and global caps refuse with messages written for the user', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '200', MAX_QUEUED_PER_USER: '2', MAX_QUEUE: '3' });
  try {
    // Jobs may start on the worker, so submit until each cap bites and check the message.
    let userErr: unknown;
    for (let i = 0; i < 6 && !userErr; i++) await q.submit(spec('A', { steps: 50 })).catch((e: unknown) => (userErr = e));
    assert.ok(userErr instanceof QueueLimitError);
    assert.equal(userErr.kind, 'user_cap');
    assert.equal(userErr.message, 'You already have 2 jobs waiting (the limit); wait for one to finish.');
    await q.submit(spec('B', { steps: 50 }));
    await assert.rejects(q.submit(spec('C', { steps: 50 })), (e: unknown) => {
      assert.ok(e instanceof QueueLimitError);
      assert.equal(e.kind, 'global_cap');
      assert.match(e.message, /queue is full \(3 jobs waiting\)/);
      return true;
    });
  } finally {
    await q.close();
  }
});

test('cancel: a waiting job is removed, a running one stops within a step, others are refused', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '100' });
  try {
    const running = (await q.submit(spec('A', { steps: 150 }))).job;
    const waiting = (await q.submit(spec('A', { steps: 2 }))).job;
    await waitForEvent(q, 'progress', (j) => j.id === running.id);
    assert.equal(await q.cancel(waiting.id, { userId: 'B' }), 'forbidden');
    assert.equal(await q.cancel(waiting.id, { userId: 'A' }), 'cancelled');
    assert.equal(q.get(waiting.id)?.state, 'cancelled');
    const t0 = Date.now();
    assert.equal(await q.cancel(running.id, { userId: 'X', isAdmin: true }), 'cancelled');
    assert.ok(Date.now() - t0 < 1000, `running job took ${Date.now() - t0} ms to stop`);
    assert.equal(q.get(running.id)?.state, 'cancelled');
    assert.equal(await q.cancel(running.id, { userId: 'A' }), 'already_finished');
    assert.equal(await q.cancel('nope', { userId: 'A' }), 'not_found');
    // The worker is still usable afterwards.
    const next = (await q.submit(spec('A', { steps: 1 }))).job;
    const done = await waitForFinished(q, [next.id]);
    assert.equal(done.get(next.id)?.state, 'done');
    assert.equal((await q.outputs(next.id)).length, 1);
  } finally {
    await q.close();
  }
});

test('waiting jobs get positions and estimates, updated as the queue moves', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '30' });
  try {
    const ids: string[] = [];
    const first = await q.submit(spec('A', { steps: 5 }));
    ids.push(first.job.id);
    assert.equal(first.position.position, 1);
    const second = await q.submit(spec('B', { steps: 5 }));
    ids.push(second.job.id);
    const third = await q.submit(spec('C', { steps: 5 }));
    ids.push(third.job.id);
    assert.ok(third.position.etaMs > second.position.etaMs, 'a later job has a later estimate');
    const seen: number[] = [];
    q.on('position', (p) => {
      if (p.jobId === third.job.id) seen.push(p.position);
    });
    await waitUntil(() => q.positions().some((p) => p.position === 0), 20_000, 'a running job');
    await waitForFinished(q, ids);
    assert.ok(seen.includes(1), `the third job moved up to position 1 (saw ${seen.join(',')})`);
  } finally {
    await q.close();
  }
});

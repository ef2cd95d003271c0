// One end-to-end scenario, run against both backends (local worker processes, and Redis with a
// worker host in another process) on the real engine with tiny models: fairness between two
// users, progress with previews, PNG outputs, both caps, and cancelling waiting and running jobs.
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { ManagedJobQueue } from '../../src/queue/index.js';
import { QueueLimitError, type JobSpec } from '../../src/queue/types.js';
import { spec, waitForFinished, waitUntil } from './helpers.js';

export interface ScenarioOptions {
  model: string;
  /** Devices behind the queue. */
  devices: number;
  /** The queue's MAX_QUEUED_PER_USER; its MAX_QUEUE must be this + 1. */
  maxPerUser: number;
}

/** Big enough to be still running when cancelled (about 50 ms a step on the tiny model). */
const LONG: Partial<JobSpec['request']> = { steps: 150, width: 512, height: 512, count: 4 };

function isLimit(kind: QueueLimitError['kind']) {
  return (e: unknown) => {
    assert.ok(e instanceof QueueLimitError, String(e));
    assert.equal(e.kind, kind);
    return true;
  };
}

export async function endToEndScenario(q: ManagedJobQueue, o: ScenarioOptions): Promise<void> {
  // 1. Alice submits three jobs, then Bob one: Bob does not wait for all of Alice's.
  const started: string[] = [];
  const queued = new Set<string>();
  const steps = new Map<string, number[]>();
  const totals = new Map<string, number>();
  let previewBytes = 0;
  q.on('queued', (job, pos) => {
    queued.add(job.id);
    assert.ok(pos.position >= 0 && pos.etaMs >= 0);
  });
  q.on('started', (job) => started.push(job.id));
  // Spreading needs every device able to take work; on a loaded machine a worker process can
  // take seconds to start, while the first one runs all these tiny jobs.
  await waitUntil(() => q.workers().filter((w) => w.alive && w.ready !== false).length >= o.devices, 60_000, 'every worker ready');
  q.on('progress', (job, p) => {
    steps.set(job.id, [...(steps.get(job.id) ?? []), p.step]);
    if (p.preview) previewBytes = Math.max(previewBytes, p.preview.rgb.length);
    // Some schedulers run one more step than asked (PNDM's warm-up), never fewer.
    assert.ok(p.totalSteps >= job.request.steps);
    totals.set(job.id, p.totalSteps);
  });
  const alice: string[] = [];
  for (let i = 0; i < 3; i++) alice.push((await q.submit(spec('alice', { seed: i, steps: 3 }, o.model))).job.id);
  const bob = (await q.submit(spec('bob', { seed: 10, steps: 3 }, o.model))).job.id;
  const done = await waitForFinished(q, [...alice, bob], 60_000);
  for (const job of done.values()) {
    assert.equal(job.state, 'done', job.error);
    assert.ok(queued.has(job.id), 'every job was announced as queued');
    assert.deepEqual(
      steps.get(job.id),
      Array.from({ length: totals.get(job.id) ?? 0 }, (_, i) => i + 1),
    );
    const [png, ...rest] = await q.outputs(job.id);
    assert.equal(rest.length, 0);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 64]);
    assert.deepEqual(q.get(job.id)?.seeds, [job.request.seed]);
    assert.ok((q.get(job.id)?.timings?.totalMs ?? 0) > 0);
  }
  assert.ok(started.indexOf(bob) < started.indexOf(alice[2]), "Bob started before Alice's last job");
  assert.ok(previewBytes > 0, 'progress carried preview pixels');
  if (o.devices > 1) {
    const used = new Set([...done.values()].map((j) => q.get(j.id)?.device));
    assert.ok(used.size > 1, `jobs spread over the devices (used ${[...used].join(', ')})`);
  }

  // 2. Every device busy with a long job; then the caps, then cancelling.
  const longs: { id: string; user: string }[] = [];
  for (let d = 0; d < o.devices; d++) longs.push({ id: (await q.submit(spec(`long${d}`, LONG, o.model))).job.id, user: `long${d}` });
  await waitUntil(() => longs.every((l) => q.get(l.id)?.state === 'running'), 30_000, 'the long jobs to run');
  const carol: string[] = [];
  for (let i = 0; i < o.maxPerUser; i++) carol.push((await q.submit(spec('carol', { steps: 2 }, o.model))).job.id);
  await assert.rejects(q.submit(spec('carol', { steps: 2 }, o.model)), isLimit('user_cap'));
  const erin = (await q.submit(spec('erin', { steps: 2 }, o.model))).job.id;
  await assert.rejects(q.submit(spec('frank', { steps: 2 }, o.model)), isLimit('global_cap'));
  const waitingPositions = q.positions().filter((p) => p.position > 0);
  assert.deepEqual(
    waitingPositions.map((p) => p.position),
    waitingPositions.map((_, i) => i + 1),
  );
  assert.ok(carol.every((id) => waitingPositions.some((p) => p.jobId === id)));

  assert.equal(await q.cancel(carol[0], { userId: 'mallory' }), 'forbidden');
  for (const id of [...carol, erin]) {
    assert.equal(await q.cancel(id, { userId: q.get(id)!.requester.userId }), 'cancelled');
    assert.equal(q.get(id)?.state, 'cancelled');
  }
  for (const l of longs) {
    const t0 = Date.now();
    assert.equal(await q.cancel(l.id, { userId: l.user }), 'cancelled');
    assert.ok(Date.now() - t0 < 5000, `a running job took ${Date.now() - t0} ms to stop`);
    assert.equal(q.get(l.id)?.state, 'cancelled');
  }
  assert.equal(await q.cancel(longs[0].id, { userId: longs[0].user }), 'already_finished');
  assert.equal(await q.cancel('no-such-job', { userId: 'x' }), 'not_found');

  // 3. The devices still work after the cancellations.
  const after = (await q.submit(spec('dave', { steps: 2 }, o.model))).job.id;
  const last = await waitForFinished(q, [after], 30_000);
  assert.equal(last.get(after)?.state, 'done', last.get(after)?.error);
}

// The metrics server: /healthz reports workers and queue length, /metrics has the queue gauges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMetricsServer } from '../../src/metrics/server.js';
import { makeQueue, spec, waitForFinished, waitUntil } from './helpers.js';

test('/healthz and /metrics', async () => {
  const q = makeQueue({ DEVICES: 'noop:0', NOOP_STEP_MS: '20' });
  const server = await startMetricsServer(0, q, '127.0.0.1');
  try {
    await waitUntil(() => q.workers().every((w) => w.alive && w.pid !== undefined), 10_000, 'workers');
    const ids = [(await q.submit(spec('A', { steps: 50 }))).job.id, (await q.submit(spec('B', { steps: 1 }))).job.id];
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { ok: boolean; workers: { device: string }[]; queued: number };
    assert.equal(body.ok, true);
    assert.equal(body.workers[0].device, 'noop:0');
    assert.ok(body.queued >= 1);
    await waitForFinished(q, ids);
    await new Promise((r) => setTimeout(r, 20));
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.match(text, /imagine_queue_length\{device="noop:0"\} 0/);
    assert.match(text, /imagine_queue_waiting_jobs 0/);
    assert.match(text, /imagine_jobs_total\{outcome="done"\} 2/);
    assert.match(text, /imagine_job_wait_seconds_count\{device="noop:0"\} 2/);
    assert.match(text, /imagine_job_run_seconds_count\{device="noop:0",kind="txt2img"\} 2/);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/nope`)).status, 404);
  } finally {
    await server.close();
    await q.close();
  }
});

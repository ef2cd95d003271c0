// Queue benchmark on simulated (noop) devices: the dispatcher's own overhead per job, and
// throughput as devices are added. Run: npx tsx scripts/bench-queue.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '../src/config/env.js';
import { createJobQueue, type LocalJobQueue } from '../src/queue/index.js';
import type { JobSpec } from '../src/queue/types.js';

process.env.LOG_LEVEL ??= 'warn';

function jobSpec(user: string, steps: number, seed: number): JobSpec {
  return {
    kind: 'txt2img',
    model: 'bench',
    request: { prompt: 'bench', seed, steps, guidanceScale: 7, width: 64, height: 64, count: 1 },
    requester: { userId: user, username: user, guildId: null, channelId: 'c' },
  };
}

async function waitReady(q: LocalJobQueue): Promise<void> {
  // Submit one warm-up job per device so worker start-up is not measured.
  const n = q.workers().length;
  const ids = await Promise.all(Array.from({ length: n }, (_, i) => q.submit(jobSpec(`warm${i}`, 1, i)).then((r) => r.job.id)));
  await new Promise<void>((resolve) => {
    const pending = new Set(ids);
    q.on('done', (j) => {
      pending.delete(j.id);
      if (pending.size === 0) resolve();
    });
  });
}

async function run(devices: number, stepMs: number, jobs: number, users: number, steps: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-queue-'));
  const q = createJobQueue(
    loadEnv({
      DEVICES: Array.from({ length: devices }, (_, i) => `noop:${i}`).join(','),
      NOOP_STEP_MS: String(stepMs),
      DATA_DIR: dataDir,
      MAX_QUEUE: String(jobs + 10),
      MAX_QUEUED_PER_USER: String(jobs),
    }),
  );
  try {
    await waitReady(q);
    const started = performance.now();
    const ids: string[] = [];
    const finished = new Promise<void>((resolve) => {
      let n = 0;
      q.on('done', () => {
        if (++n === jobs) resolve();
      });
    });
    for (let i = 0; i < jobs; i++) ids.push((await q.submit(jobSpec(`user${i % users}`, steps, i))).job.id);
    await finished;
    const wallMs = performance.now() - started;
    const workMs = jobs * steps * stepMs;
    return { devices, stepMs, jobs, steps, wallMs, perJobMs: wallMs / jobs, jobsPerSec: (jobs / wallMs) * 1000, idealMs: workMs / devices };
  } finally {
    await q.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const rows = [];
rows.push({ name: 'overhead (1 step, 0 ms)', ...(await run(1, 0, 200, 4, 1)) });
for (const devices of [1, 2, 4]) rows.push({ name: `throughput ${devices} dev`, ...(await run(devices, 20, 40, 4, 10)) });

console.log('case                     devices  jobs  wall ms  ms/job  jobs/s  ideal ms');
for (const r of rows) {
  console.log(
    [
      r.name.padEnd(24),
      String(r.devices).padStart(7),
      String(r.jobs).padStart(5),
      r.wallMs.toFixed(0).padStart(8),
      r.perJobMs.toFixed(2).padStart(7),
      r.jobsPerSec.toFixed(1).padStart(7),
      r.idealMs.toFixed(0).padStart(9),
    ].join(' '),
  );
}

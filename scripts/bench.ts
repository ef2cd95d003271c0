// `npm run bench` (queue part): the dispatcher's own cost per job on a no-op device, and
// throughput as simulated devices are added. Simulated devices ("noop:N") sleep NOOP_STEP_MS
// per step in a real worker process, so IPC, SQLite writes and PNG files are all included.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadEnv } from '../src/config/env.js';
import { logger } from '../src/log.js';
import { createJobQueue, type ManagedJobQueue } from '../src/queue/index.js';
import type { JobSpec } from '../src/queue/types.js';

// Quiet by default, here and in the worker processes (they read LOG_LEVEL when they start).
process.env.LOG_LEVEL ??= 'warn';
logger.level = process.env.LOG_LEVEL;

function jobSpec(user: string, steps: number, seed: number): JobSpec {
  return {
    kind: 'txt2img',
    model: 'bench',
    request: { prompt: 'bench', seed, steps, guidanceScale: 7, width: 64, height: 64, count: 1 },
    requester: { userId: user, username: user, guildId: null, channelId: 'c' },
  };
}

function waitDone(q: ManagedJobQueue, n: number): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    q.on('done', () => {
      if (--left === 0) resolve();
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

interface Run {
  devices: number;
  jobs: number;
  steps: number;
  stepMs: number;
  wallMs: number;
  submitMs: number[];
}

async function run(devices: number, stepMs: number, jobs: number, steps: number, users = 4): Promise<Run> {
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
    // One warm-up job per device, so worker start-up is not measured.
    const warm = waitDone(q, devices);
    for (let i = 0; i < devices; i++) await q.submit(jobSpec(`warm${i}`, 1, i));
    await warm;
    const finished = waitDone(q, jobs);
    const submitMs: number[] = [];
    const started = performance.now();
    for (let i = 0; i < jobs; i++) {
      const t = performance.now();
      await q.submit(jobSpec(`user${i % users}`, steps, i));
      submitMs.push(performance.now() - t);
    }
    await finished;
    return { devices, jobs, steps, stepMs, wallMs: performance.now() - started, submitMs: submitMs.sort((a, b) => a - b) };
  } finally {
    await q.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const overhead = await run(1, 0, 200, 1);
console.log('queue: local backend, simulated devices (noop), 64×64 jobs from 4 users');
console.log(
  `dispatcher overhead (1 device, 1 step of 0 ms, ${overhead.jobs} jobs): ${(overhead.wallMs / overhead.jobs).toFixed(2)} ms/job end to end; ` +
    `submit() p50 ${percentile(overhead.submitMs, 50).toFixed(2)} ms, p95 ${percentile(overhead.submitMs, 95).toFixed(2)} ms`,
);
let base: number | undefined;
for (const devices of [1, 2, 4]) {
  const r = await run(devices, 20, 40, 10);
  const jobsPerSec = (r.jobs / r.wallMs) * 1000;
  base ??= jobsPerSec;
  const idealMs = (r.jobs * r.steps * r.stepMs) / devices;
  console.log(
    `throughput, ${devices} device${devices > 1 ? 's' : ' '} (${r.jobs} jobs × ${r.steps} steps × ${r.stepMs} ms): ` +
      `${jobsPerSec.toFixed(1)} jobs/s (×${(jobsPerSec / base).toFixed(2)}), wall ${r.wallMs.toFixed(0)} ms vs ideal ${idealMs.toFixed(0)} ms ` +
      `(${((idealMs / r.wallMs) * 100).toFixed(0)}% efficient)`,
  );
}

// Memory options measured on the tiny model: each configuration runs in a fresh process (peak
// RSS is per process), loads the pipeline, runs one job, and reports resident memory after
// load, the peak during the job (getrusage maxRSS: weights, ORT arenas and activations
// together) and what stays resident afterwards, plus the time the job took.
//   npm run bench:memory            all configurations
//   tsx scripts/bench-memory.ts --child <config> <job> <modelDir>   one (used by the above)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createTinyModel } from '../src/models/tiny/index.js';
import { loadPipeline } from '../src/diffusion/pipeline.js';
import type { PipelineLoadOptions } from '../src/diffusion/memory-options.js';
import type { GenerationRequest } from '../src/diffusion/types.js';

const CONFIGS: Record<string, { float16?: boolean; options: PipelineLoadOptions }> = {
  'default (fp32)': { options: {} },
  float16: { float16: true, options: {} },
  'batched VAE': { options: { vaeSlicing: false } },
  'release sessions': { options: { releaseSessions: true } },
  'tiled VAE 512': { options: { vaeTiling: { tileSize: 512 } } },
  'LOW_MEMORY=1': { options: { lowMemory: true } },
};

const JOBS: Record<string, GenerationRequest> = {
  '4×512²': { prompt: 'a photo of a cat', seed: 1, steps: 4, guidanceScale: 7.5, width: 512, height: 512, count: 4, scheduler: 'euler' },
  '1×1536²': { prompt: 'a photo of a cat', seed: 1, steps: 2, guidanceScale: 7.5, width: 1536, height: 1536, count: 1, scheduler: 'euler' },
};

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

async function child(config: string, job: string, modelDir: string): Promise<void> {
  const c = CONFIGS[config];
  const t0 = performance.now();
  const pipe = await loadPipeline(modelDir, c.options);
  const loadMs = performance.now() - t0;
  await nextTurn();
  const afterLoad = process.memoryUsage().rss;
  const t1 = performance.now();
  const result = await pipe.generate(JOBS[job]);
  const jobMs = performance.now() - t1;
  await nextTurn();
  const after = process.memoryUsage().rss;
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ loadMs, jobMs, vaeMs: result.timings.vaeMs, afterLoad, peak, after }));
}

async function parent(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  try {
    const dirs = { fp32: join(root, 'tiny'), fp16: join(root, 'tiny-fp16') };
    await createTinyModel(dirs.fp32);
    await createTinyModel(dirs.fp16, { float16: true });
    const script = fileURLToPath(import.meta.url);
    console.log('memory options on the tiny model (CPU, one process per row; RSS in MiB, times in ms)');
    console.log(
      `${'config'.padEnd(18)} ${'job'.padEnd(8)} ${'rss load'.padStart(8)} ${'peak'.padStart(6)} ${'rss after'.padStart(9)} ${'job ms'.padStart(7)} ${'vae ms'.padStart(7)}`,
    );
    for (const job of Object.keys(JOBS)) {
      for (const [config, c] of Object.entries(CONFIGS)) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--child', config, job, c.float16 ? dirs.fp16 : dirs.fp32], {
          encoding: 'utf8',
          env: { ...process.env, LOG_LEVEL: 'warn' },
        });
        if (r.status !== 0) throw new Error(`${config} / ${job} failed: ${r.stderr}`);
        const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
        console.log(
          `${config.padEnd(18)} ${job.padEnd(8)} ${mb(m.afterLoad).padStart(8)} ${mb(m.peak).padStart(6)} ${mb(m.after).padStart(9)} ` +
            `${m.jobMs.toFixed(0).padStart(7)} ${m.vaeMs.toFixed(0).padStart(7)}`,
        );
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--child') await child(args[1], args[2], args[3]);
else await parent();

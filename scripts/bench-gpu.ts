// `npm run bench:gpu -- --device cuda:0|webgpu [--dir models/bench] [--arch sd15,sd-turbo,sdxl]
//                      [--fp16] [--steps n] [--count n]`
// runs the full-size benchmark models on a GPU (each written first with create-bench when its
// folder is missing) and prints, per model: UNet time per step, image time, wall/session.run,
// host↔device copies per step and peak VRAM (nvidia-smi's memory.used, sampled every 200 ms,
// where nvidia-smi exists). A device that falls back to CPU is an error, not a CPU benchmark.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { z } from 'zod';
import { BENCH_ARCHS, createBenchModel, type BenchArch } from '../src/models/bench/index.js';
import { parseDevice } from '../src/diffusion/sessions.js';
import { measure, printMeasure, type BenchArgs } from './bench-model.js';

const run = promisify(execFile);

/** Each architecture's usual job: its family's size, steps and guidance. */
const JOBS: Record<BenchArch, { size: number; steps: number; guidance: number }> = {
  sd15: { size: 512, steps: 20, guidance: 7.5 },
  'sd-turbo': { size: 512, steps: 1, guidance: 0 },
  sdxl: { size: 1024, steps: 20, guidance: 5 },
};

const argsSchema = z.object({
  device: z.string().refine((d) => {
    try {
      parseDevice(d);
      return true;
    } catch {
      return false;
    }
  }, 'use cuda, cuda:N or webgpu'),
  dir: z.string().default('models/bench'),
  arch: z
    .string()
    .default(BENCH_ARCHS.join(','))
    .transform((s) => s.split(',').map((a) => a.trim()))
    .pipe(z.array(z.enum(BENCH_ARCHS)).min(1)),
  fp16: z.boolean().default(false),
  steps: z.coerce.number().int().min(1).max(100).optional(),
  count: z.coerce.number().int().min(1).max(8).default(1),
  /** Widths divided by this (reduced models): a smoke test of this script on any machine. */
  reduce: z.coerce.number().int().min(1).max(64).default(1),
});

/** Peak memory.used (MiB) of GPU `index` while `work` runs, or undefined without nvidia-smi. */
async function peakVram<T>(index: number, work: () => Promise<T>): Promise<{ result: T; baseMiB?: number; peakMiB?: number }> {
  const query = async () => {
    try {
      const { stdout } = await run('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-i', String(index)], { timeout: 5000 });
      return Number(stdout.trim().split('\n')[0]);
    } catch {
      return undefined;
    }
  };
  const baseMiB = await query();
  if (baseMiB === undefined) return { result: await work() };
  let peakMiB = baseMiB;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const v = await query();
      if (v !== undefined && v > peakMiB) peakMiB = v;
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  try {
    return { result: await work(), baseMiB, peakMiB };
  } finally {
    polling = false;
    await poll;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      device: { type: 'string' },
      dir: { type: 'string' },
      arch: { type: 'string' },
      fp16: { type: 'boolean' },
      steps: { type: 'string' },
      count: { type: 'string' },
      reduce: { type: 'string' },
    },
  });
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) {
    console.error(
      `bench:gpu: ${z.prettifyError(parsed.error)}\nUsage: npm run bench:gpu -- --device cuda:0|webgpu [--dir models/bench] [--arch sd15,sd-turbo,sdxl] [--fp16] [--steps n] [--count n]`,
    );
    process.exitCode = 2;
    return;
  }
  const a = parsed.data;
  const device = parseDevice(a.device);
  const gpuIndex = device.kind === 'cuda' ? device.id : 0;
  for (const arch of a.arch) {
    const dir = resolve(join(a.dir, `${arch}${a.fp16 ? '-fp16' : ''}${a.reduce > 1 ? `-reduced${a.reduce}` : ''}`));
    if (!existsSync(join(dir, 'model_index.json'))) {
      console.log(`writing ${arch}${a.fp16 ? ' fp16' : ''} into ${dir} …`);
      await createBenchModel(dir, { arch, float16: a.fp16, reduce: a.reduce > 1 ? a.reduce : undefined });
    }
    const job = JOBS[arch];
    const args: BenchArgs = {
      model: dir,
      device: a.device,
      size: job.size,
      steps: a.steps ?? job.steps,
      count: a.count,
      guidance: job.guidance,
      warmup: 1,
      memory: false,
    };
    const { result: m, baseMiB, peakMiB } = await peakVram(gpuIndex, () => measure(args));
    if (
      m.device !==
        a.device
          .trim()
          .toLowerCase()
          .replace(/^cuda$/, 'cuda:0') &&
      device.kind !== 'cpu'
    ) {
      console.error(`${arch}: the pipeline ran on ${m.device}, not ${a.device}: see the warning above (provider not installed, or no adapter).`);
      process.exitCode = 1;
      return;
    }
    printMeasure(`${arch}${a.fp16 ? ' fp16' : ''} ${job.size}²`, m, args);
    console.log(baseMiB === undefined ? '  VRAM: not measured (no nvidia-smi)' : `  VRAM: ${peakMiB} MiB peak (${baseMiB} MiB before loading)`);
  }
}

await main();

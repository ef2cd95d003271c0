// Benchmark of a full-size model folder (`npm run models -- create-bench`, or a real export):
//   npm run bench -- --model DIR [--device cpu|cuda:N|webgpu] [--size 512] [--steps 3] [--count 1]
//                    [--guidance 7.5] [--warmup 1] [--no-memory]
// prints the per-step UNet time, the image time, wall/session.run (the pipeline's own share:
// 1.00 means all the time is in ONNX Runtime), host↔device copies per step, and peak RSS for
// each memory option (memory-options.ts), each in a fresh process (peak RSS is per process).
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import { loadPipeline } from '../src/diffusion/pipeline.js';
import { transfersOf, type TransferCount } from '../src/diffusion/execution-providers.js';
import type { PipelineLoadOptions } from '../src/diffusion/memory-options.js';
import type { GenerationRequest } from '../src/diffusion/types.js';

export const benchArgsSchema = z.object({
  model: z.string().min(1),
  device: z.string().default('cpu'),
  size: z.coerce.number().int().min(64).max(2048).multipleOf(8).optional(),
  steps: z.coerce.number().int().min(1).max(100).default(3),
  count: z.coerce.number().int().min(1).max(8).default(1),
  guidance: z.coerce.number().min(0).max(30).default(7.5),
  warmup: z.coerce.number().int().min(0).max(10).default(1),
  memory: z.boolean().default(true),
});
export type BenchArgs = z.infer<typeof benchArgsSchema>;

/** The memory options compared, by name (README "Memory options"). */
export const MEMORY_CONFIGS: Record<string, PipelineLoadOptions> = {
  default: {},
  'release sessions': { releaseSessions: true },
  'tiled VAE 256': { vaeTiling: { tileSize: 256 } },
  'LOW_MEMORY=1': { lowMemory: true },
};

export interface JobMeasure {
  loadMs: number;
  /** Mean UNet session.run per call. */
  stepMs: number;
  imageMs: number;
  textEncoderMs: number;
  unetMs: number;
  vaeMs: number;
  /** Everything generate() took over the time spent inside session.run. */
  wallOverRun: number;
  unetCalls: number;
  /** Host↔device tensor copies per UNet call, and for the whole job. */
  copiesPerStep: { hostToDevice: number; deviceToHost: number; bytes: number };
  copiesPerJob: { hostToDevice: number; deviceToHost: number };
  device: string;
  peakRssMiB: number;
}

export function request(a: BenchArgs, size: number, steps: number): GenerationRequest {
  return { prompt: 'a photo of a cat', seed: 1, steps, guidanceScale: a.guidance, width: size, height: size, count: a.count, scheduler: 'euler' };
}

/** Loads `a.model` once, warms up, then measures one job of `a.steps` steps. */
export async function measure(a: BenchArgs, options: PipelineLoadOptions = {}): Promise<JobMeasure> {
  const t0 = performance.now();
  const pipe = await loadPipeline(a.model, { device: a.device, ...options });
  const loadMs = performance.now() - t0;
  try {
    const size = a.size ?? pipe.defaults.width;
    if (a.warmup > 0) await pipe.generate(request(a, size, a.warmup));
    const callsBefore = pipe.runStats.unetCalls;
    const before = allTransfers();
    const unetBefore = transfersOf('unet');
    const result = await pipe.generate(request(a, size, a.steps));
    const t = result.timings;
    const unetCalls = pipe.runStats.unetCalls - callsBefore;
    const job = diff(allTransfers(), before);
    const unet = diff(transfersOf('unet'), unetBefore);
    const inRun = t.textEncoderMs + t.unetMs + t.vaeMs;
    return {
      loadMs,
      stepMs: t.stepMs,
      imageMs: t.totalMs / a.count,
      textEncoderMs: t.textEncoderMs,
      unetMs: t.unetMs,
      vaeMs: t.vaeMs,
      wallOverRun: t.totalMs / inRun,
      unetCalls,
      copiesPerStep: {
        hostToDevice: unet.hostToDevice / unetCalls,
        deviceToHost: unet.deviceToHost / unetCalls,
        bytes: (unet.hostToDeviceBytes + unet.deviceToHostBytes) / unetCalls,
      },
      copiesPerJob: { hostToDevice: job.hostToDevice, deviceToHost: job.deviceToHost },
      device: pipe.device,
      peakRssMiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    };
  } finally {
    await pipe.dispose();
  }
}

const PARTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae', 'vae_decoder', 'vae_encoder', 'safety_checker'];

function allTransfers(): TransferCount {
  const sum = { hostToDevice: 0, deviceToHost: 0, hostToDeviceBytes: 0, deviceToHostBytes: 0 };
  for (const part of PARTS) {
    const c = transfersOf(part);
    sum.hostToDevice += c.hostToDevice;
    sum.deviceToHost += c.deviceToHost;
    sum.hostToDeviceBytes += c.hostToDeviceBytes;
    sum.deviceToHostBytes += c.deviceToHostBytes;
  }
  return sum;
}

function diff(x: TransferCount, y: TransferCount): TransferCount {
  return {
    hostToDevice: x.hostToDevice - y.hostToDevice,
    deviceToHost: x.deviceToHost - y.deviceToHost,
    hostToDeviceBytes: x.hostToDeviceBytes - y.hostToDeviceBytes,
    deviceToHostBytes: x.deviceToHostBytes - y.deviceToHostBytes,
  };
}

const ms = (v: number) => `${v.toFixed(0)} ms`;

export function printMeasure(label: string, m: JobMeasure, a: BenchArgs): void {
  console.log(
    `${label}: ${m.device}, ${a.steps} steps, count ${a.count}, guidance ${a.guidance}: UNet ${ms(m.stepMs)}/step, ` +
      `image ${ms(m.imageMs)} (text ${ms(m.textEncoderMs)}, UNet ${ms(m.unetMs)}, VAE ${ms(m.vaeMs)}), ` +
      `wall/session.run ${m.wallOverRun.toFixed(3)}, load ${ms(m.loadMs)}, ` +
      `host↔device copies per UNet step ${m.copiesPerStep.hostToDevice} to + ${m.copiesPerStep.deviceToHost} from the device (${(m.copiesPerStep.bytes / 2 ** 20).toFixed(1)} MiB), ` +
      `${m.copiesPerJob.hostToDevice} to / ${m.copiesPerJob.deviceToHost} from the device per job, peak RSS ${m.peakRssMiB.toFixed(0)} MiB`,
  );
}

/** Runs one memory configuration in a fresh process and returns its measure. */
function inChild(a: BenchArgs, config: string): JobMeasure {
  const script = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), script, '--child', JSON.stringify({ args: a, config })], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`${config} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as JobMeasure;
}

export async function benchModelMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      device: { type: 'string' },
      size: { type: 'string' },
      steps: { type: 'string' },
      count: { type: 'string' },
      guidance: { type: 'string' },
      warmup: { type: 'string' },
      'no-memory': { type: 'boolean' },
    },
  });
  const parsed = benchArgsSchema.safeParse({ ...values, memory: !values['no-memory'] });
  if (!parsed.success) {
    console.error(`bench --model: ${z.prettifyError(parsed.error)}`);
    process.exitCode = 2;
    return;
  }
  const a = parsed.data;
  console.log(`model benchmark: ${a.model}, euler, warm-up ${a.warmup} step(s), then one job; load average ${loadAverage()}`);
  const main = inChild(a, 'default');
  printMeasure('default', main, a);
  if (!a.memory) return;
  console.log('peak RSS per memory option (a fresh process each; MiB):');
  console.log(`  default: ${main.peakRssMiB.toFixed(0)} (image ${ms(main.imageMs)})`);
  for (const config of Object.keys(MEMORY_CONFIGS).filter((c) => c !== 'default')) {
    const m = inChild({ ...a, warmup: 0 }, config);
    console.log(`  ${config}: ${m.peakRssMiB.toFixed(0)} (image ${ms(m.imageMs)}, cold)`);
  }
}

function loadAverage(): string {
  return loadavg()
    .map((v) => v.toFixed(1))
    .join(' ');
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const { args: a, config } = JSON.parse(args[1]) as { args: BenchArgs; config: string };
  const m = await measure(a, MEMORY_CONFIGS[config]);
  await nextTurn();
  console.log(JSON.stringify(m));
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchModelMain(args);
}

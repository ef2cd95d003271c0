// `npm run bench` (engine vs reference): the pipeline's text-to-image against the plain
// diffusers-order loop of scripts/reference-loop.ts on the same three ORT sessions, at 256² and
// 512², 1 and 4 images, on float32 and float16 tiny models. Pairs are interleaved (the order
// alternates), so load from other work on the machine falls on both sides alike; the ratio
// reported is the median of the per-pair ratios, in each of several repeats, with the spread.
// The pixels are compared first: the two sides must agree within one level. `--separate` runs
// each side in its own process instead (scripts/bench-ratio-side.ts), on sessions loaded alike.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadPipeline } from '../src/diffusion/pipeline.js';
import { createTinyModel } from '../src/models/tiny/index.js';
import { type BenchSide, type SideResult, type SideRun, type SideRunner, sideRunner } from './bench-ratio-side.js';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '31' },
    repeats: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    sizes: { type: 'string', default: '256,512' },
    counts: { type: 'string', default: '1,4' },
    dtypes: { type: 'string', default: 'fp32,fp16' },
    separate: { type: 'boolean', default: false },
  },
});
const pairs = Number(args.pairs);
const repeats = Number(args.repeats);
const steps = Number(args.steps);
const GUIDANCE = 7.5;
const PROMPT = 'a photo of a cat';
const NEGATIVE = 'blurry';

/** One side in a child process of its own, answering one run at a time. */
class SideProcess {
  readonly run: SideRunner;
  private readonly child: ChildProcess;
  private pending?: { resolve: (r: SideResult) => void; reject: (e: Error) => void };

  constructor(side: BenchSide, modelDir: string) {
    const script = fileURLToPath(new URL(`./bench-ratio-side${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
    // The same runtime flags as this process (tsx's loader when run from the TypeScript).
    this.child = fork(script, [side, modelDir], { execArgv: process.execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = new Promise<void>((resolve, reject) => {
      this.child.once('message', () => resolve());
      this.child.once('exit', (code) => reject(new Error(`the ${side} side exited (${code}) before it was ready`)));
    });
    this.child.on('exit', (code) => this.pending?.reject(new Error(`the ${side} side exited (${code}) during a run`)));
    this.run = async (r) => {
      await ready;
      return new Promise((resolve, reject) => {
        this.pending = { resolve, reject };
        this.child.once('message', (m) => {
          this.pending = undefined;
          resolve(m as SideResult);
        });
        this.child.send(r);
      });
    };
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    if (this.child.connected) this.child.disconnect();
    await exited;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

export interface RatioRow {
  dtype: string;
  size: number;
  count: number;
  projectMs: number;
  referenceMs: number;
  /** Median of per-pair ratios, per repeat. */
  ratios: number[];
  maxPixelDiff: number;
}

async function measure(sides: Record<BenchSide, SideRunner>, dtype: string, size: number, count: number): Promise<RatioRow> {
  const request = (seed: number, pixels = false): SideRun => ({
    prompt: PROMPT,
    negativePrompt: NEGATIVE,
    seed,
    steps,
    guidanceScale: GUIDANCE,
    size,
    count,
    pixels,
  });

  // Same picture on both sides (and a warm-up for each).
  const a = await sides.pipeline(request(42, true));
  const b = await sides.reference(request(42, true));
  const maxPixelDiff = Math.max(...(a.images ?? []).map((img, i) => maxDiff(img, b.images?.[i] ?? new Uint8Array())));
  if (maxPixelDiff > 1) throw new Error(`${dtype} ${size}² ×${count}: the pipeline and the reference loop differ by ${maxPixelDiff} levels`);

  const projectTimes: number[] = [];
  const referenceTimes: number[] = [];
  const ratios: number[] = [];
  let lastStep = a.lastStep;
  for (let r = 0; r < repeats; r++) {
    const pairRatios: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const seed = 100 * r + i;
      const timeProject = async () => {
        const out = await sides.pipeline(request(seed));
        lastStep = out.lastStep;
        return out.ms;
      };
      const timeReference = async () => (await sides.reference(request(seed))).ms;
      let p: number;
      let q: number;
      if (i % 2 === 0) {
        p = await timeProject();
        q = await timeReference();
      } else {
        q = await timeReference();
        p = await timeProject();
      }
      projectTimes.push(p);
      referenceTimes.push(q);
      pairRatios.push(p / q);
    }
    ratios.push(median(pairRatios));
  }
  if (lastStep !== steps) throw new Error(`progress listener saw step ${lastStep} of ${steps}`);
  return { dtype, size, count, projectMs: median(projectTimes), referenceMs: median(referenceTimes), ratios, maxPixelDiff };
}

const root = mkdtempSync(join(tmpdir(), 'bench-ratio-'));
try {
  console.log(
    `engine vs reference loop: tiny model, ${steps} steps, euler, guidance ${GUIDANCE}, ` +
      `${args.separate ? 'each side in its own process on sessions loaded alike' : 'one process, the same ORT sessions'}; ` +
      `${pairs} interleaved pairs × ${repeats} repeats; ratio = median(pipeline / reference) per repeat`,
  );
  // Other work on the machine moves absolute times a lot (the ratios much less): say how much there was.
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(', ');
  console.log(`load average at start: ${load()}`);
  const rows: RatioRow[] = [];
  for (const dtype of args.dtypes.split(',')) {
    const dir = join(root, dtype);
    await createTinyModel(dir, { float16: dtype === 'fp16' });
    const processes = args.separate ? [new SideProcess('pipeline', dir), new SideProcess('reference', dir)] : [];
    const pipe = args.separate ? undefined : await loadPipeline(dir);
    const sides = pipe
      ? { pipeline: sideRunner('pipeline', pipe), reference: sideRunner('reference', pipe) }
      : { pipeline: processes[0].run, reference: processes[1].run };
    for (const size of args.sizes.split(',').map(Number)) {
      for (const count of args.counts.split(',').map(Number)) {
        const row = await measure(sides, dtype, size, count);
        rows.push(row);
        const med = median(row.ratios);
        console.log(
          `${dtype} ${size}² ×${count}: pipeline ${row.projectMs.toFixed(1)} ms, reference ${row.referenceMs.toFixed(1)} ms, ` +
            `ratio ${med.toFixed(3)} (repeats ${row.ratios.map((x) => x.toFixed(3)).join(', ')}), pixels within ${row.maxPixelDiff} level${row.maxPixelDiff === 1 ? '' : 's'}`,
        );
      }
    }
    await pipe?.dispose();
    await Promise.all(processes.map((p) => p.close()));
  }
  console.log(`load average at end: ${load()}`);
  const worst = Math.max(...rows.map((r) => median(r.ratios)));
  console.log(`worst ratio ${worst.toFixed(3)} (target ≤ 0.9): ${worst <= 0.9 ? 'met' : 'NOT met'}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}

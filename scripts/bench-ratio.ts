// `npm run bench` (engine vs reference): the pipeline's text-to-image against the plain
// diffusers-order loop of scripts/reference-loop.ts on the same three ORT sessions, at 256² and
// 512², 1 and 4 images, on float32 and float16 tiny models. Pairs are interleaved (the order
// alternates), so load from other work on the machine falls on both sides alike; the ratio
// reported is the median of the per-pair ratios, in each of several repeats, with the spread.
// The pixels are compared first: the two sides must agree within one level.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { loadPipeline, type StableDiffusionPipeline } from '../src/diffusion/pipeline.js';
import { createScheduler } from '../src/diffusion/schedulers/index.js';
import type { LoadedSession } from '../src/diffusion/sessions.js';
import type { ClipTokenizer } from '../src/diffusion/tokenizer.js';
import { createTinyModel } from '../src/models/tiny/index.js';
import { referenceTextToImage, type ReferenceRequest, type ReferenceSessions } from './reference-loop.js';

const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string', default: '31' },
    repeats: { type: 'string', default: '3' },
    steps: { type: 'string', default: '20' },
    sizes: { type: 'string', default: '256,512' },
    counts: { type: 'string', default: '1,4' },
    dtypes: { type: 'string', default: 'fp32,fp16' },
  },
});
const pairs = Number(args.pairs);
const repeats = Number(args.repeats);
const steps = Number(args.steps);
const GUIDANCE = 7.5;
const PROMPT = 'a photo of a cat';
const NEGATIVE = 'blurry';

/** The sessions the pipeline loaded (private fields, read here so both sides run the same ones). */
function sessionsOf(pipe: StableDiffusionPipeline): ReferenceSessions {
  const p = pipe as unknown as { tokenizer: ClipTokenizer; textEncoder: LoadedSession; unet: LoadedSession; vaeDecoder: LoadedSession };
  return { tokenizer: p.tokenizer, textEncoder: p.textEncoder.session, unet: p.unet.session, vaeDecoder: p.vaeDecoder.session };
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

async function measure(pipe: StableDiffusionPipeline, dtype: string, size: number, count: number): Promise<RatioRow> {
  const sessions = sessionsOf(pipe);
  const setTimesteps = (n: number) => {
    const s = createScheduler('euler', pipe.model.schedulerConfig);
    s.setTimesteps(n);
    return { timesteps: s.timesteps, sigmas: (s as unknown as { sigmas: Float32Array }).sigmas, initNoiseSigma: s.initNoiseSigma };
  };
  const ref = (seed: number): ReferenceRequest => ({
    prompt: PROMPT,
    negativePrompt: NEGATIVE,
    seed,
    guidanceScale: GUIDANCE,
    width: size,
    height: size,
    count,
    steps,
    setTimesteps,
    vaeScalingFactor: pipe.model.vaeScalingFactor,
  });
  const request = (seed: number) => ({
    prompt: PROMPT,
    negativePrompt: NEGATIVE,
    seed,
    steps,
    guidanceScale: GUIDANCE,
    width: size,
    height: size,
    count,
    scheduler: 'euler' as const,
  });
  // A progress listener that shows the step only, as the CLI's bar does.
  let lastStep = 0;
  const onProgress = (p: { step: number }) => {
    lastStep = p.step;
  };
  const project = async (seed: number) => (await pipe.generateRaw(request(seed), { onProgress })).images.map((i) => i.rgb);

  // Same picture on both sides (and a warm-up for each).
  const a = await project(42);
  const b = await referenceTextToImage(sessions, ref(42));
  const maxPixelDiff = Math.max(...a.map((img, i) => maxDiff(img, b[i])));
  if (maxPixelDiff > 1) throw new Error(`${dtype} ${size}² ×${count}: the pipeline and the reference loop differ by ${maxPixelDiff} levels`);

  const projectTimes: number[] = [];
  const referenceTimes: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const pairRatios: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const seed = 100 * r + i;
      const timeProject = async () => {
        const t = performance.now();
        await project(seed);
        return performance.now() - t;
      };
      const timeReference = async () => {
        const t = performance.now();
        await referenceTextToImage(sessions, ref(seed));
        return performance.now() - t;
      };
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
    `engine vs reference loop: tiny model, ${steps} steps, euler, guidance ${GUIDANCE}, same ORT sessions; ` +
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
    const pipe = await loadPipeline(dir);
    for (const size of args.sizes.split(',').map(Number)) {
      for (const count of args.counts.split(',').map(Number)) {
        const row = await measure(pipe, dtype, size, count);
        rows.push(row);
        const med = median(row.ratios);
        console.log(
          `${dtype} ${size}² ×${count}: pipeline ${row.projectMs.toFixed(1)} ms, reference ${row.referenceMs.toFixed(1)} ms, ` +
            `ratio ${med.toFixed(3)} (repeats ${row.ratios.map((x) => x.toFixed(3)).join(', ')}), pixels within ${row.maxPixelDiff} level${row.maxPixelDiff === 1 ? '' : 's'}`,
        );
      }
    }
    await pipe.dispose();
  }
  console.log(`load average at end: ${load()}`);
  const worst = Math.max(...rows.map((r) => median(r.ratios)));
  console.log(`worst ratio ${worst.toFixed(3)} (target ≤ 0.9): ${worst <= 0.9 ? 'met' : 'NOT met'}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}

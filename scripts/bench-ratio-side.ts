// One side of the engine-vs-reference bench (scripts/bench-ratio.ts): the pipeline's
// generateRaw(), or the plain loop of scripts/reference-loop.ts on the same pipeline's sessions.
// The bench runs both sides in its own process by default (the same sessions, as the issue
// measured); with --separate, this file runs each side in a child process of its own, on
// sessions loaded the same way, so neither pays for the other's garbage (the reference makes
// about ten times the pipeline's per job). Runs are timed here, so an IPC round trip is not in them.
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadPipeline, type StableDiffusionPipeline } from '../src/diffusion/pipeline.js';
import { createScheduler } from '../src/diffusion/schedulers/index.js';
import type { LoadedSession } from '../src/diffusion/sessions.js';
import type { ClipTokenizer } from '../src/diffusion/tokenizer.js';
import { referenceTextToImage, type ReferenceSessions } from './reference-loop.js';

export type BenchSide = 'pipeline' | 'reference';

export interface SideRun {
  seed: number;
  size: number;
  count: number;
  steps: number;
  guidanceScale: number;
  prompt: string;
  negativePrompt: string;
  /** Send the pictures back (the pixel check), not just the time. */
  pixels: boolean;
}

export interface SideResult {
  ms: number;
  images?: Uint8Array[];
  /** The last step the pipeline's progress listener saw (0 on the reference side). */
  lastStep: number;
}

export type SideRunner = (r: SideRun) => Promise<SideResult>;

/** The sessions the pipeline loaded (private fields, read here so the reference runs the same ones). */
function sessionsOf(pipe: StableDiffusionPipeline): ReferenceSessions {
  const p = pipe as unknown as { tokenizer: ClipTokenizer; textEncoder: LoadedSession; unet: LoadedSession; vaeDecoder: LoadedSession };
  return { tokenizer: p.tokenizer, textEncoder: p.textEncoder.session, unet: p.unet.session, vaeDecoder: p.vaeDecoder.session };
}

/** Runs one side on `pipe`'s model and sessions, timing each run. */
export function sideRunner(side: BenchSide, pipe: StableDiffusionPipeline): SideRunner {
  const sessions = sessionsOf(pipe);
  const setTimesteps = (n: number) => {
    const s = createScheduler('euler', pipe.model.schedulerConfig);
    s.setTimesteps(n);
    return { timesteps: s.timesteps, sigmas: (s as unknown as { sigmas: Float32Array }).sigmas, initNoiseSigma: s.initNoiseSigma };
  };
  // A progress listener that shows the step only, as the CLI's bar does.
  let lastStep = 0;
  const onProgress = (p: { step: number }) => {
    lastStep = p.step;
  };
  const draw = async (r: SideRun): Promise<Uint8Array[]> => {
    const common = {
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      seed: r.seed,
      guidanceScale: r.guidanceScale,
      width: r.size,
      height: r.size,
      count: r.count,
      steps: r.steps,
    };
    if (side === 'pipeline') return (await pipe.generateRaw({ ...common, scheduler: 'euler' }, { onProgress })).images.map((i) => i.rgb);
    return referenceTextToImage(sessions, { ...common, setTimesteps, vaeScalingFactor: pipe.model.vaeScalingFactor });
  };
  return async (r) => {
    const t = performance.now();
    const images = await draw(r);
    return { ms: performance.now() - t, images: r.pixels ? images : undefined, lastStep };
  };
}

/** As a child process (`bench-ratio-side.ts pipeline|reference MODEL_DIR`): one run per message. */
async function serve(side: BenchSide, modelDir: string): Promise<void> {
  const pipe = await loadPipeline(modelDir);
  const run = sideRunner(side, pipe);
  process.on('message', (r: SideRun) => {
    run(r)
      .then((result) => process.send?.(result))
      .catch((err: unknown) => {
        console.error(err);
        process.exit(1);
      });
  });
  // The parent closing the channel is the signal to finish.
  process.on('disconnect', () => {
    void pipe.dispose().finally(() => process.exit(0));
  });
  process.send?.({ ready: true });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [side, modelDir] = process.argv.slice(2);
  if (side !== 'pipeline' && side !== 'reference') throw new Error(`usage: bench-ratio-side.ts pipeline|reference MODEL_DIR (got ${side})`);
  await serve(side, modelDir);
}

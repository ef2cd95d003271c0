// What a worker runs jobs with: the real diffusion pipeline, or (for dispatch tests and the
// benchmark) a simulated device that sleeps per step and writes a small PNG.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { loadPipeline, upscaleImage, type StableDiffusionPipeline } from '../diffusion/pipeline.js';
import { GenerationAbortedError, InputError } from '../diffusion/errors.js';
import type { GenerationProgress, GenerationRequest } from '../diffusion/types.js';
import { engineSettingsFromEnv, upscaleServiceFor } from '../diffusion/engine-settings.js';
import { runImageEdit } from '../diffusion/image-edit.js';
import type { UpscaleService } from '../diffusion/upscale.js';
import { folderSizeMb, ModelCache } from './model-cache.js';
import { loraSpecsFor, lorasKey } from '../diffusion/lora/choices.js';
import { listEmbeddings } from '../diffusion/embeddings.js';
import type { RunJob, WorkerOptions } from './ipc.js';
import { ensurePrivateDir, writePrivateFile } from '../store/private-files.js';

export interface EngineResult {
  outputs: string[];
  seeds: number[];
  /** Safety-checker flags per output ([] when the model has no checker). */
  nsfw: boolean[];
  timings: { totalMs: number; stepMs: number };
}

export interface Engine {
  run(job: RunJob, opts: { onProgress: (p: GenerationProgress) => void; signal: AbortSignal }): Promise<EngineResult>;
  loadedModels(): string[];
}

async function writeOutputs(job: RunJob, pngs: Buffer[]): Promise<string[]> {
  await ensurePrivateDir(job.outputDir);
  const paths = pngs.map((_, i) => join(job.outputDir, `${i}.png`));
  await Promise.all(pngs.map((png, i) => writePrivateFile(paths[i], png)));
  return paths;
}

async function readInput(job: Pick<RunJob, 'initImagePath'>, what = 'input image'): Promise<Buffer> {
  if (!job.initImagePath) throw new InputError(`This job needs an ${what}, and none was stored.`);
  return readFile(job.initImagePath).catch(() => {
    throw new InputError(`The ${what} of this job is gone (deleted by the retention sweep?).`);
  });
}

/** ControlNet's control image, stored beside the job like its input image. */
async function readControlImage(job: RunJob): Promise<Buffer> {
  if (!job.controlImagePath) throw new InputError('This job uses a ControlNet, and its control image was not stored.');
  return readFile(job.controlImagePath).catch(() => {
    throw new InputError('The control image of this job is gone (deleted by the retention sweep?).');
  });
}

/** With the configured upscaler network (UPSCALER) when given, else Lanczos. */
async function upscale(job: RunJob, upscaler?: UpscaleService): Promise<EngineResult> {
  const started = performance.now();
  const input = await readInput(job);
  const factor = job.upscaleFactor ?? 2;
  const png = upscaler ? await upscaler.upscale(input, factor) : await upscaleImage(input, factor);
  const outputs = await writeOutputs(job, [png]);
  const seed = typeof job.request.seed === 'number' ? job.request.seed : 0;
  return { outputs, seeds: [seed], nsfw: [], timings: { totalMs: performance.now() - started, stepMs: 0 } };
}

export class DiffusionEngine implements Engine {
  private readonly cache: ModelCache<StableDiffusionPipeline>;
  /** Memory savers and upscaler from the environment (LOW_MEMORY, UPSCALER, …). */
  private readonly settings = engineSettingsFromEnv();
  private readonly upscaler: UpscaleService;
  constructor(private readonly options: WorkerOptions) {
    this.cache = new ModelCache(options.maxLoadedModels, options.memoryBudgetMb);
    this.upscaler = upscaleServiceFor(this.settings, { device: options.device, modelsDir: options.modelsDir });
  }

  /** Model names (a model with LoRAs merged is still that model, for affinity and /models). */
  loadedModels(): string[] {
    return [...new Set(this.cache.keys().map((k) => k.split('|')[0]))];
  }

  async run(job: RunJob, opts: { onProgress: (p: GenerationProgress) => void; signal: AbortSignal }): Promise<EngineResult> {
    if (job.kind === 'upscale') return upscale(job, this.upscaler);
    const dir = join(this.options.modelsDir, job.model);
    // Each LoRA set is its own merged pipeline, one more entry in the device's model cache.
    const loras = loraSpecsFor(job.request, this.options.modelsDir);
    const key = loras.length ? `${job.model}|${lorasKey(loras)}` : job.model;
    const pipe = await this.cache.get(key, folderSizeMb(dir), () =>
      loadPipeline(dir, { ...this.settings.pipeline, device: this.options.device, loras, embeddings: listEmbeddings(this.options.modelsDir) }),
    );
    const request: GenerationRequest = { ...job.request };
    if (job.kind === 'img2img') request.initImage = await readInput(job);
    if (job.kind === 'img2img' && job.maskImagePath) request.mask = await readInput({ initImagePath: job.maskImagePath }, 'inpainting mask');
    if (job.request.controlnet) request.controlImage = await readControlImage(job);
    // Zoom, pan and creative upscale (request.edit) are edits of the input image.
    const result = await runImageEdit(pipe, request, opts);
    const outputs = await writeOutputs(
      job,
      result.images.map((i) => i.png),
    );
    return {
      outputs,
      seeds: result.images.map((i) => i.seed),
      nsfw: result.images.some((i) => i.nsfw !== undefined) ? result.images.map((i) => i.nsfw === true) : [],
      timings: { totalMs: result.timings.totalMs, stepMs: result.timings.stepMs },
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new GenerationAbortedError());
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new GenerationAbortedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A simulated device: `stepMs` per step, a flat-colour PNG per image, model "loads" tracked. */
export class NoopEngine implements Engine {
  private readonly loaded: string[] = [];
  constructor(private readonly options: WorkerOptions) {}

  loadedModels(): string[] {
    return [...this.loaded];
  }

  async run(job: RunJob, opts: { onProgress: (p: GenerationProgress) => void; signal: AbortSignal }): Promise<EngineResult> {
    if (job.kind === 'upscale') return upscale(job);
    const started = performance.now();
    const req = job.request;
    const steps = Math.max(1, Number(req.steps) || 1);
    const count = Math.max(1, Number(req.count) || 1);
    const seed = Number(req.seed) || 0;
    if (!this.loaded.includes(job.model)) {
      this.loaded.push(job.model);
      if (this.loaded.length > this.options.maxLoadedModels) this.loaded.shift();
    }
    for (let step = 1; step <= steps; step++) {
      if (this.options.noopStepMs > 0) await sleep(this.options.noopStepMs, opts.signal);
      else if (opts.signal.aborted) throw new GenerationAbortedError();
      opts.onProgress({ step, totalSteps: steps });
    }
    const pngs = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        sharp({ create: { width: 8, height: 8, channels: 3, background: { r: (seed + i) % 256, g: 128, b: 64 } } })
          .png()
          .toBuffer(),
      ),
    );
    const outputs = await writeOutputs(job, pngs);
    const totalMs = performance.now() - started;
    return { outputs, seeds: pngs.map((_, i) => seed + i), nsfw: [], timings: { totalMs, stepMs: this.options.noopStepMs } };
  }
}

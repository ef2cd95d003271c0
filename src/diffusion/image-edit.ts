// Runs a request's `edit` (types.ts ImageEdit) on its input image: outpainting for zoom and pan,
// hires fix for a creative upscale. A request without an edit is a plain generate().
import { performance } from 'node:perf_hooks';
import { InputError } from './errors.js';
import { HIRES_DEFAULT_STRENGTH, hiresFix } from './hires-fix.js';
import { outpaint } from './outpaint.js';
import type { StableDiffusionPipeline } from './pipeline.js';
import type { GenerateOptions, GenerationRequest, GenerationResult } from './types.js';

export async function runImageEdit(pipe: StableDiffusionPipeline, req: GenerationRequest, opts: GenerateOptions = {}): Promise<GenerationResult> {
  const edit = req.edit;
  if (!edit) return pipe.generate(req, opts);
  if (!req.initImage) throw new InputError('An image edit (zoom, pan, creative upscale) needs its input image.');
  const initImage = req.initImage;
  if (edit.kind === 'zoom' || edit.kind === 'pan') return outpaint(pipe, { ...req, initImage }, edit, opts);

  const started = performance.now();
  const strength = req.strength ?? HIRES_DEFAULT_STRENGTH;
  const result = await hiresFix(
    pipe,
    {
      image: initImage,
      prompt: req.prompt,
      negativePrompt: req.negativePrompt,
      seed: req.seed,
      scale: edit.scale,
      strength,
      // Turbo models' 1–4 steps would redraw nothing at low strength: at least one step runs.
      steps: Math.max(req.steps, Math.ceil(1 / strength)),
      guidanceScale: req.guidanceScale,
      scheduler: req.scheduler,
    },
    opts,
  );
  const totalMs = performance.now() - started;
  return {
    images: [{ png: result.png, seed: req.seed, width: result.width, height: result.height, ...(result.nsfw !== undefined ? { nsfw: result.nsfw } : {}) }],
    truncatedTokens: 0,
    scheduler: req.scheduler ?? pipe.defaults.scheduler,
    timings: { totalMs, textEncoderMs: 0, unetMs: 0, vaeMs: 0, stepMs: 0 },
  };
}

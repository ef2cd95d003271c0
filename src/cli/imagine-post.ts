// What `npm run imagine` does after generating: --hires (creative upscale: Lanczos 2× +
// low-strength image-to-image) and --upscale 2|4 (the upscaler network given by --upscaler,
// else the configured one, else Lanczos), in that order.
import { basename } from 'node:path';
import { HIRES_DEFAULT_STRENGTH, hiresFix } from '../diffusion/hires-fix.js';
import { upscaleServiceFor, type EngineSettings } from '../diffusion/engine-settings.js';
import type { StableDiffusionPipeline } from '../diffusion/pipeline.js';
import type { GeneratedImage, GenerationRequest } from '../diffusion/types.js';
import type { UpscaleFactor } from '../diffusion/upscale.js';

export interface PostOptions {
  hires: boolean;
  /** --steps: also the hires pass's schedule, at least enough that its strength redraws one step. */
  hiresSteps?: number;
  upscale?: UpscaleFactor;
  /** --upscaler dir: wins over UPSCALER and the installed default. */
  upscalerDir?: string;
  device: string;
  settings: EngineSettings;
}

/** The final PNG of every image, and one line per step taken, for the summary. */
export async function postProcess(
  pipe: StableDiffusionPipeline,
  request: Pick<GenerationRequest, 'prompt' | 'negativePrompt' | 'guidanceScale' | 'scheduler'>,
  images: GeneratedImage[],
  o: PostOptions,
): Promise<{ pngs: Buffer[]; notes: string[] }> {
  const notes: string[] = [];
  let pngs = images.map((i) => i.png);
  if (o.hires) {
    const started = performance.now();
    const out: Buffer[] = [];
    let tiles = 0;
    for (const [i, png] of pngs.entries()) {
      const r = await hiresFix(pipe, {
        image: png,
        prompt: request.prompt,
        negativePrompt: request.negativePrompt,
        seed: images[i].seed,
        steps: o.hiresSteps === undefined ? undefined : Math.max(o.hiresSteps, Math.ceil(1 / HIRES_DEFAULT_STRENGTH)),
        guidanceScale: request.guidanceScale,
        scheduler: request.scheduler,
      });
      out.push(r.png);
      tiles = r.tiles;
    }
    pngs = out;
    notes.push(`hires fix (Lanczos 2× + image-to-image, ${tiles} tile${tiles > 1 ? 's' : ''}) in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  }
  if (o.upscale) {
    const started = performance.now();
    const service = upscaleServiceFor(o.settings, { device: o.device, dir: o.upscalerDir });
    const dir = service.currentDir();
    try {
      pngs = await Promise.all(pngs.map((png) => service.upscale(png, o.upscale!)));
    } finally {
      await service.dispose();
    }
    notes.push(`upscaled ${o.upscale}× with ${dir ? basename(dir) : 'Lanczos'} in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  }
  return { pngs, notes };
}

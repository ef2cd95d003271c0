// "Creative" upscale, what Stable Diffusion tools call hires fix: Lanczos to 2× (or the
// requested scale), then image-to-image at low strength (0.2–0.35, default 0.3) so the model
// redraws detail at the new size while keeping the composition. When the upscaled picture is
// larger than `maxTileSize` it is redrawn tile by tile (overlapping tiles, blended seams, the
// same seed for every tile), so memory stays that of one tile.
import sharp from 'sharp';
import { z } from 'zod';
import { InputError } from './errors.js';
import { imageSize } from './image-io.js';
import { encodePng, formatParameters, pngParameters } from './png.js';
import type { StableDiffusionPipeline } from './pipeline.js';
import { MAX_SIDE, MIN_SIDE } from './validate.js';
import { TileBlender, tileGrid } from './tiles.js';
import { SCHEDULER_NAMES, type GenerateOptions, type SchedulerName } from './types.js';

export const HIRES_DEFAULT_STRENGTH = 0.3;
export const HIRES_DEFAULT_MAX_TILE = 1024;
/** Largest result side: the blend buffers hold the whole picture. */
export const HIRES_MAX_SIDE = 4096;

export interface HiresFixRequest {
  /** The picture to upscale (PNG, JPEG or WebP bytes). */
  image: Uint8Array;
  prompt: string;
  negativePrompt?: string;
  seed: number;
  /** Scale factor (default 2). */
  scale?: number;
  /** Image-to-image strength (default 0.3; 0.2–0.35 keeps the composition). */
  strength?: number;
  /** Steps of the full schedule; strength × steps of them run (default: the model's, at least 1/strength). */
  steps?: number;
  guidanceScale?: number;
  scheduler?: SchedulerName;
  /** Largest side redrawn in one piece (default 1024, multiple of 8). */
  maxTileSize?: number;
  /** Overlap of neighbouring tiles in pixels (default 128, multiple of 8). */
  tileOverlap?: number;
}

export interface HiresFixResult {
  png: Buffer;
  width: number;
  height: number;
  /** Tiles redrawn (1 = in one piece). */
  tiles: number;
  /** Safety-checker verdict (any tile flagged); undefined when the model has no checker. */
  nsfw?: boolean;
}

const requestSchema = z.object({
  prompt: z.string(),
  seed: z.number().int().min(0),
  scale: z.number().min(1, 'hires scale must be at least 1').max(4, 'hires scale must be at most 4').optional(),
  strength: z.number().gt(0, 'hires strength must be more than 0').max(1, 'hires strength must be at most 1').optional(),
  steps: z.number().int().min(1).optional(),
  guidanceScale: z.number().min(0).optional(),
  scheduler: z.enum(SCHEDULER_NAMES).optional(),
  maxTileSize: z
    .number()
    .int()
    .min(MIN_SIDE)
    .max(MAX_SIDE)
    .refine((v) => v % 8 === 0, 'hires tile size must be a multiple of 8')
    .optional(),
  tileOverlap: z
    .number()
    .int()
    .min(0)
    .refine((v) => v % 8 === 0, 'hires tile overlap must be a multiple of 8')
    .optional(),
});

/**
 * The input's own parameters when it is the first pass of this request (a picture made with the
 * same prompt and seed), without a Denoising strength of its own.
 */
function firstPassParameters(image: Uint8Array, prompt: string, seed: number): string | undefined {
  const text = pngParameters(image);
  if (!text || text.split('\n')[0] !== prompt || !text.includes(`Seed: ${seed},`)) return undefined;
  const lines = text.split('\n');
  lines[lines.length - 1] = lines[lines.length - 1].replace(/, Denoising strength: [^,]*/, '');
  return lines.join('\n');
}

/** Rounds to a multiple of the model's grid (the VAE's 8; SD3's 16 = VAE × patch), at least MIN_SIDE. */
function snap(v: number, grid: number): number {
  return Math.max(MIN_SIDE, Math.round(v / grid) * grid);
}

async function rgbAt(bytes: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(bytes)
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize(width, height, { kernel: 'lanczos3', fit: 'fill' })
    .removeAlpha()
    .raw()
    .toBuffer();
}

export async function hiresFix(pipe: StableDiffusionPipeline, reqIn: HiresFixRequest, opts: GenerateOptions = {}): Promise<HiresFixResult> {
  const parsed = requestSchema.safeParse(reqIn);
  if (!parsed.success) throw new InputError(parsed.error.issues.map((i) => i.message).join('; '));
  const scale = reqIn.scale ?? 2;
  const strength = reqIn.strength ?? HIRES_DEFAULT_STRENGTH;
  // Turbo-style 1-step defaults would leave strength × steps < 1, i.e. nothing redrawn.
  const steps = reqIn.steps ?? Math.max(pipe.defaults.steps, Math.ceil(1 / strength));
  const guidanceScale = reqIn.guidanceScale ?? pipe.defaults.guidanceScale;
  const maxTile = reqIn.maxTileSize ?? HIRES_DEFAULT_MAX_TILE;
  const overlap = reqIn.tileOverlap ?? 128;
  if (overlap * 2 >= maxTile) throw new InputError('hires tile overlap must be less than half the tile size.');

  const src = await imageSize(reqIn.image);
  const grid = pipe.isSd3 ? 16 : 8;
  const width = snap(src.width * scale, grid);
  const height = snap(src.height * scale, grid);
  if (width > HIRES_MAX_SIDE || height > HIRES_MAX_SIDE) {
    throw new InputError(`The hires result would be ${width}×${height}; at most ${HIRES_MAX_SIDE} pixels a side. Use a smaller picture or scale.`);
  }
  const upscaled = await rgbAt(reqIn.image, width, height);

  const rects = tileGrid(width, height, maxTile, overlap);
  const blender = new TileBlender(3, width, height, overlap);
  let nsfw: boolean | undefined;
  for (const [k, r] of rects.entries()) {
    const tileRgb =
      rects.length === 1
        ? upscaled
        : await sharp(upscaled, { raw: { width, height, channels: 3 } })
            .extract({ left: r.x, top: r.y, width: r.width, height: r.height })
            .raw()
            .toBuffer();
    const tilePng = await sharp(tileRgb, { raw: { width: r.width, height: r.height, channels: 3 } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    const result = await pipe.generate(
      {
        prompt: reqIn.prompt,
        negativePrompt: reqIn.negativePrompt,
        seed: reqIn.seed,
        steps,
        guidanceScale,
        scheduler: reqIn.scheduler,
        width: r.width,
        height: r.height,
        count: 1,
        initImage: tilePng,
        strength,
      },
      {
        signal: opts.signal,
        // Every tile has the same size and schedule: tile k's steps follow the k before it.
        onProgress: opts.onProgress && ((p) => opts.onProgress!({ ...p, step: k * p.totalSteps + p.step, totalSteps: rects.length * p.totalSteps })),
      },
    );
    const image = result.images[0];
    if (image.nsfw !== undefined) nsfw = (nsfw ?? false) || image.nsfw;
    const out = await sharp(image.png).removeAlpha().raw().toBuffer();
    const planar = new Float32Array(out.length);
    const plane = r.width * r.height;
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) planar[c * plane + p] = out[p * 3 + c];
    blender.add(planar, r.x, r.y, r.width, r.height);
  }

  const blended = blender.result();
  const plane = width * height;
  const rgb = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(blended[c * plane + p]);
  // As A1111 records it: the first pass's parameters (its size and steps, read from the input
  // PNG), then the hires pass's strength, scale, schedule length and upscaler.
  const hiresFields = `Denoising strength: ${strength}, Hires upscale: ${scale}, Hires steps: ${steps}, Hires upscaler: Lanczos${rects.length > 1 ? `, Hires tiles: ${rects.length}` : ''}`;
  const firstPass = firstPassParameters(reqIn.image, reqIn.prompt, reqIn.seed);
  const params =
    firstPass ??
    formatParameters({
      prompt: reqIn.prompt,
      negativePrompt: reqIn.negativePrompt,
      seed: reqIn.seed,
      steps,
      scheduler: reqIn.scheduler ?? pipe.defaults.scheduler,
      guidanceScale,
      width,
      height,
      model: pipe.model.name,
    });
  const png = await encodePng(rgb, width, height, `${params}, ${hiresFields}`);
  return { png, width, height, tiles: rects.length, nsfw };
}

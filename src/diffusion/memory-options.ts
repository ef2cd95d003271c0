// The pipeline's load options for memory-tight hosts, named after diffusers' switches where it
// has one (enable_vae_slicing, enable_vae_tiling): what each one trades is in README
// "Memory options", measured by scripts/bench-memory.ts.
import { z } from 'zod';
import { InputError } from './errors.js';

export interface VaeTilingOptions {
  /** Tile side in image pixels (a multiple of 8; default 512, SD 1.x's native size). */
  tileSize?: number;
  /** Overlap between neighbouring tiles in image pixels, blended linearly (default tileSize / 4). */
  overlap?: number;
}

export interface PipelineLoadOptions {
  /** cpu | cuda | cuda:N | webgpu (default cpu). */
  device?: string;
  /** Turns every memory saver below on unless it is set explicitly (default false). */
  lowMemory?: boolean;
  /** Release the text encoder and VAE sessions when idle; re-created on next use (default: lowMemory). */
  releaseSessions?: boolean;
  /** Decode the VAE one image at a time, as diffusers' ONNX pipeline does (default true); false = one batched call. */
  vaeSlicing?: boolean;
  /** Decode latents larger than one tile in overlapping tiles (default: lowMemory); true = the default tile. */
  vaeTiling?: boolean | VaeTilingOptions;
  /** Run the model's safety_checker/ when it has one (default true). */
  safetyChecker?: boolean;
  /**
   * SD3: load text_encoder_3 (T5-XXL, ~9.5 GB in fp16) when the folder has it (default true);
   * false feeds zeros in its place, as diffusers does with text_encoder_3=None.
   */
  textEncoder3?: boolean;
}

export interface MemoryOptions {
  releaseSessions: boolean;
  vaeSlicing: boolean;
  /** Latent-pixel tile size and overlap; absent = decode whole. */
  vaeTiling?: { tileSize: number; overlap: number };
  safetyChecker: boolean;
  textEncoder3: boolean;
}

export const DEFAULT_VAE_TILE = 512;

const tilingSchema = z
  .object({
    tileSize: z
      .number()
      .int()
      .min(64, 'VAE tile size must be at least 64 pixels')
      .max(4096)
      .refine((v) => v % 8 === 0, 'VAE tile size must be a multiple of 8')
      .optional(),
    overlap: z
      .number()
      .int()
      .min(0)
      .refine((v) => v % 8 === 0, 'VAE tile overlap must be a multiple of 8')
      .optional(),
  })
  .strict();

const optionsSchema = z.object({
  device: z.string().optional(),
  lowMemory: z.boolean().optional(),
  releaseSessions: z.boolean().optional(),
  vaeSlicing: z.boolean().optional(),
  vaeTiling: z.union([z.boolean(), tilingSchema]).optional(),
  safetyChecker: z.boolean().optional(),
  textEncoder3: z.boolean().optional(),
});

/** Validates the load options and fills in the defaults. */
export function resolveMemoryOptions(input: PipelineLoadOptions = {}): MemoryOptions {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) throw new InputError(`Invalid pipeline options: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  const o = parsed.data;
  const low = o.lowMemory ?? false;
  const tiling = o.vaeTiling ?? low;
  let vaeTiling: MemoryOptions['vaeTiling'];
  if (tiling !== false) {
    const size = (tiling === true ? undefined : tiling.tileSize) ?? DEFAULT_VAE_TILE;
    const overlap = (tiling === true ? undefined : tiling.overlap) ?? Math.floor(size / 4 / 8) * 8;
    if (overlap >= size / 2) throw new InputError('VAE tile overlap must be less than half the tile size.');
    vaeTiling = { tileSize: size / 8, overlap: overlap / 8 };
  }
  return {
    releaseSessions: o.releaseSessions ?? low,
    vaeSlicing: o.vaeSlicing ?? true,
    vaeTiling,
    safetyChecker: o.safetyChecker ?? true,
    textEncoder3: o.textEncoder3 ?? true,
  };
}

/** A stable key for the pipeline cache: same resolved options, same pipeline. */
export function memoryOptionsKey(m: MemoryOptions): string {
  const t = m.vaeTiling ? `${m.vaeTiling.tileSize}/${m.vaeTiling.overlap}` : 'whole';
  return `release=${m.releaseSessions},slicing=${m.vaeSlicing},tiling=${t},safety=${m.safetyChecker},t5=${m.textEncoder3}`;
}

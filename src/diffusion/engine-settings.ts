// The engine's environment keys (memory savers, upscaler) turned into pipeline load options and
// upscaler settings, for every process that runs the engine: device workers and the CLI.
import { resolve } from 'node:path';
import { baseEnvSchema, parseEnv } from '../config/env.js';
import type { PipelineLoadOptions } from './memory-options.js';
import { UpscaleService } from './upscale.js';

const engineEnvSchema = baseEnvSchema.pick({
  MODELS_DIR: true,
  LOW_MEMORY: true,
  RELEASE_SESSIONS: true,
  VAE_SLICING: true,
  VAE_TILING: true,
  VAE_TILE_SIZE: true,
  SD3_T5: true,
  UPSCALER: true,
  UPSCALER_TILE_SIZE: true,
  UPSCALER_TILE_OVERLAP: true,
});

export interface EngineSettings {
  /** Memory options for loadPipeline (add the device). */
  pipeline: Omit<PipelineLoadOptions, 'device'>;
  upscaler: {
    /** Upscaler name from UPSCALER (undefined = the only one installed, else Lanczos). */
    name?: string;
    tileSize: number;
    tileOverlap: number;
    releaseWhenIdle: boolean;
  };
  modelsDir: string;
}

export function engineSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): EngineSettings {
  const e = parseEnv(engineEnvSchema, env);
  const low = e.LOW_MEMORY ?? false;
  return {
    pipeline: {
      lowMemory: low,
      releaseSessions: e.RELEASE_SESSIONS,
      vaeSlicing: e.VAE_SLICING,
      vaeTiling: e.VAE_TILING === false ? false : e.VAE_TILING || low ? { tileSize: e.VAE_TILE_SIZE } : undefined,
      textEncoder3: e.SD3_T5,
    },
    upscaler: {
      name: e.UPSCALER,
      tileSize: e.UPSCALER_TILE_SIZE,
      tileOverlap: e.UPSCALER_TILE_OVERLAP,
      releaseWhenIdle: e.RELEASE_SESSIONS ?? low,
    },
    modelsDir: resolve(e.MODELS_DIR),
  };
}

/**
 * The upscaler the settings pick, on `device`: `dir` when given (the CLI's --upscaler), else
 * UPSCALER under `modelsDir` (default: the settings' MODELS_DIR), looked up on every call.
 */
export function upscaleServiceFor(settings: EngineSettings, opts: { device: string; dir?: string; modelsDir?: string }): UpscaleService {
  return new UpscaleService({
    dir: opts.dir,
    modelsDir: opts.modelsDir ?? settings.modelsDir,
    name: settings.upscaler.name,
    device: opts.device,
    tileSize: settings.upscaler.tileSize,
    tileOverlap: settings.upscaler.tileOverlap,
    releaseWhenIdle: settings.upscaler.releaseWhenIdle,
  });
}

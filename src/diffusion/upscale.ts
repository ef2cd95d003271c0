// Upscaling a finished picture 2× or 4×: with the configured upscaler network when there is
// one (MODELS_DIR/upscalers/<name>/model.onnx), else Lanczos through sharp. The PNG keeps its
// `parameters` text, with the upscale noted the way AUTOMATIC1111 writes it.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { InputError, ModelError } from './errors.js';
import { readTextChunks, withTextChunk } from './png.js';
import { ModelUpscaler, type UpscalerOptions } from './model-upscaler.js';
import { logger } from '../log.js';

export type UpscaleFactor = 2 | 4;

/** `UPSCALER=lanczos` (any case) forces the sharp fallback even when a model is installed. */
export const LANCZOS = 'lanczos';

/** Upscaler folders (with a model.onnx) under MODELS_DIR/upscalers, sorted. */
export function listUpscalers(modelsDir: string): string[] {
  const root = join(modelsDir, 'upscalers');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => !n.startsWith('.') && statSync(join(root, n), { throwIfNoEntry: false })?.isDirectory() && existsSync(join(root, n, 'model.onnx')))
    .sort();
}

/**
 * The upscaler folder to use: `name` under MODELS_DIR/upscalers; without a name the only one
 * installed; undefined (Lanczos) for `lanczos`, for none, or when several are installed and
 * none is named.
 */
export function resolveUpscalerDir(modelsDir: string, name?: string): string | undefined {
  if (name && name.toLowerCase() === LANCZOS) return undefined;
  const found = listUpscalers(modelsDir);
  if (name) {
    if (/[\\/]|^\.\.?$/.test(name)) throw new ModelError(`UPSCALER="${name}" must be a folder name under ${join(modelsDir, 'upscalers')}, not a path.`);
    if (!found.includes(name)) {
      throw new ModelError(
        `UPSCALER=${name}, but ${join(modelsDir, 'upscalers', name, 'model.onnx')} does not exist. ` +
          `Installed: ${found.length ? found.join(', ') : 'none'}; set UPSCALER=lanczos to use Lanczos.`,
      );
    }
    return join(modelsDir, 'upscalers', name);
  }
  if (found.length === 1) return join(modelsDir, 'upscalers', found[0]);
  if (found.length > 1) logger.warn({ upscalers: found }, 'several upscalers installed and UPSCALER is not set; using Lanczos');
  return undefined;
}

async function decodeRgb(png: Uint8Array): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(png, { failOn: 'error' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw new InputError(`The image to upscale could not be read (${(err as Error).message}). Use a PNG, JPEG or WebP file.`);
  }
}

/** The input's `parameters` text with A1111's postprocessing fields added (undefined when it had none). */
function upscaledParameters(png: Uint8Array, factor: number, upscaler: string): string | undefined {
  let params: string | undefined;
  try {
    params = readTextChunks(Buffer.from(png.buffer, png.byteOffset, png.byteLength)).parameters;
  } catch {
    return undefined; // not a PNG: nothing to carry over
  }
  return params ? `${params}, Postprocess upscale by: ${factor}, Postprocess upscaler: ${upscaler}` : undefined;
}

/**
 * Upscales a picture `factor`× with `upscaler` (repeated when its own scale is smaller, then
 * Lanczos down to the exact size when it overshoots), or with Lanczos when none is given.
 */
export async function upscalePng(png: Uint8Array, factor: UpscaleFactor, upscaler?: ModelUpscaler): Promise<Buffer> {
  let { rgb, width, height } = await decodeRgb(png);
  const targetW = width * factor;
  const targetH = height * factor;
  let done = 1;
  if (upscaler && upscaler.scale > 1) {
    while (done < factor) {
      ({ rgb, width, height } = await upscaler.upscaleRgb(rgb, width, height));
      done *= upscaler.scale;
    }
  }
  let img = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (width !== targetW || height !== targetH) img = img.resize(targetW, targetH, { kernel: 'lanczos3', fit: 'fill' });
  const out = await img.png({ compressionLevel: 6 }).toBuffer();
  const params = upscaledParameters(png, factor, upscaler && upscaler.scale > 1 ? upscaler.name : 'Lanczos');
  return params ? withTextChunk(out, 'parameters', params) : out;
}

export interface UpscaleServiceOptions extends Omit<UpscalerOptions, 'device'> {
  /** The upscaler folder; wins over modelsDir + name. */
  dir?: string;
  /** Where to look up `name` (resolveUpscalerDir) on every call, so an upscaler installed later is picked up. */
  modelsDir?: string;
  name?: string;
  device?: string;
}

/** The configured upscaler, loaded on first use and kept (what the worker and the CLI hold). */
export class UpscaleService {
  private loaded?: { dir: string; upscaler: Promise<ModelUpscaler> };

  constructor(private readonly options: UpscaleServiceOptions) {}

  /** The upscaler folder this call would use (undefined = Lanczos). */
  currentDir(): string | undefined {
    const o = this.options;
    return o.dir ?? (o.modelsDir ? resolveUpscalerDir(o.modelsDir, o.name) : undefined);
  }

  async upscale(png: Uint8Array, factor: UpscaleFactor): Promise<Buffer> {
    const dir = this.currentDir();
    if (!dir) return upscalePng(png, factor);
    if (this.loaded?.dir !== dir) {
      await this.dispose();
      const { device, tileSize, tileOverlap, releaseWhenIdle } = this.options;
      const upscaler = ModelUpscaler.load(dir, { device, tileSize, tileOverlap, releaseWhenIdle });
      const entry = { dir, upscaler };
      this.loaded = entry;
      // A failed load is reported to this job and retried by the next one.
      upscaler.catch(() => {
        if (this.loaded === entry) this.loaded = undefined;
      });
    }
    return upscalePng(png, factor, await this.loaded!.upscaler);
  }

  async dispose(): Promise<void> {
    const p = this.loaded?.upscaler;
    this.loaded = undefined;
    if (p) await (await p.catch(() => undefined))?.dispose();
  }
}

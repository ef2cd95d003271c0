// An image-to-image upscaler network (Real-ESRGAN and friends exported to ONNX): one float
// input [1, 3, H, W] in [0, 1], one output [1, 3, s·H, s·W]. It runs tile by tile with
// overlapping tiles blended across the seams, so the network's activations never cover more
// than one tile and any picture size fits in memory. The scale comes from config.json
// (`scale`) when present, else from fixed shapes in the graph, else from one small probe run.
import type * as ort from 'onnxruntime-node';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError, ModelError } from './errors.js';
import { createSession, firstLine, parseDevice, type LoadedSession, type SessionKeepOptions } from './sessions.js';
import { floatTensor, tensorToFloat32, type FloatType } from './tensors.js';
import { cropPlanar, TileBlender, tileGrid } from './tiles.js';

export interface UpscalerOptions {
  device?: string;
  /** Input tile side in pixels, a multiple of 8 (default 256); ignored when the graph fixes its input size. */
  tileSize?: number;
  /** Overlap between neighbouring tiles in input pixels (default 16). */
  tileOverlap?: number;
  /** Release the session when idle (low-memory hosts). */
  releaseWhenIdle?: boolean;
}

export const DEFAULT_UPSCALER_TILE = 256;
export const DEFAULT_UPSCALER_OVERLAP = 16;

const optionsSchema = z.object({
  device: z.string().optional(),
  tileSize: z
    .number()
    .int()
    .min(16, 'upscaler tile size must be at least 16')
    .max(4096)
    .refine((v) => v % 8 === 0, 'upscaler tile size must be a multiple of 8')
    .optional(),
  tileOverlap: z.number().int().min(0).optional(),
  releaseWhenIdle: z.boolean().optional(),
});

const configSchema = z.looseObject({ scale: z.number().int().min(1).max(8).optional() });

/** The model file of an upscaler folder (or the .onnx file itself). */
export function upscalerModelPath(dirOrFile: string): string {
  const p = resolve(dirOrFile);
  if (existsSync(p) && statSync(p).isFile()) return p;
  const file = join(p, 'model.onnx');
  if (!existsSync(file)) {
    throw new ModelError(
      `Upscaler ${dirOrFile} has no model.onnx. Put a Real-ESRGAN-style ONNX export there, or create a tiny test one with ` +
        `"npm run models -- create-tiny-upscaler ${dirOrFile}".`,
    );
  }
  return file;
}

function staticSide(dims: readonly (number | string)[], axis: number): number | undefined {
  const d = dims[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

export class ModelUpscaler {
  private constructor(
    readonly name: string,
    private readonly s: LoadedSession,
    private readonly inputName: string,
    private readonly outputName: string,
    private readonly dtype: FloatType,
    /** The graph's own input size, when it has one. */
    private readonly fixed: { width?: number; height?: number },
    readonly scale: number,
    readonly tileSize: number,
    readonly tileOverlap: number,
  ) {}

  static async load(dirOrFile: string, options: UpscalerOptions = {}): Promise<ModelUpscaler> {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) throw new InputError(`Invalid upscaler options: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const o = parsed.data;
    const path = upscalerModelPath(dirOrFile);
    const keep: SessionKeepOptions = { releaseWhenIdle: o.releaseWhenIdle };
    const s = await createSession(path, parseDevice(o.device ?? 'cpu'), 'upscaler', keep);
    const [input] = [...s.inputs.values()];
    const [output] = [...s.outputs.values()];
    if (!input || !output || s.inputs.size !== 1 || input.shape.length !== 4 || (input.type !== 'float32' && input.type !== 'float16')) {
      await s.session.release();
      throw new ModelError(
        `${path} is not an image upscaler: expected one float input [1, 3, H, W] and one output [1, 3, sH, sW] (a Real-ESRGAN-style export).`,
      );
    }
    const fixed = { width: staticSide(input.shape, 3), height: staticSide(input.shape, 2) };
    const name = basename(path) === 'model.onnx' ? basename(resolve(path, '..')) : basename(path, '.onnx');
    const tileSize = o.tileSize ?? DEFAULT_UPSCALER_TILE;
    const overlap = o.tileOverlap ?? DEFAULT_UPSCALER_OVERLAP;
    const minSide = Math.min(fixed.width ?? tileSize, fixed.height ?? tileSize);
    if (overlap * 2 >= minSide) {
      await s.session.release();
      throw new InputError(`Upscaler tile overlap (${overlap}) must be less than half the tile size (${minSide}).`);
    }
    const probe = new ModelUpscaler(name, s, input.name, output.name, input.type, fixed, 1, tileSize, overlap);
    try {
      const scale = ModelUpscaler.declaredScale(path, input.shape, output.shape) ?? (await probe.probeScale());
      return new ModelUpscaler(name, s, input.name, output.name, input.type, fixed, scale, tileSize, overlap);
    } catch (err) {
      await s.session.release();
      throw err;
    }
  }

  /** config.json's `scale`, or the ratio of fixed output to fixed input sides. */
  private static declaredScale(path: string, inShape: readonly (number | string)[], outShape: readonly (number | string)[]): number | undefined {
    const configPath = join(resolve(path, '..'), 'config.json');
    if (existsSync(configPath)) {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(configPath, 'utf8'));
      } catch (err) {
        throw new ModelError(`${configPath} is not valid JSON: ${(err as Error).message}.`);
      }
      const parsed = configSchema.safeParse(raw);
      if (parsed.success && parsed.data.scale) return parsed.data.scale;
    }
    const [ih, oh] = [staticSide(inShape, 2), staticSide(outShape, 2)];
    if (ih && oh && oh % ih === 0) return oh / ih;
    return undefined;
  }

  /** Runs a small grey image and measures the output. */
  private async probeScale(): Promise<number> {
    const w = this.fixed.width ?? 32;
    const h = this.fixed.height ?? 32;
    const out = await this.runTile(new Float32Array(3 * w * h).fill(0.5), w, h);
    const scale = out.height / h;
    if (!Number.isInteger(scale) || scale < 1 || scale > 8 || out.width / w !== scale) {
      throw new ModelError(
        `${this.name} turned a ${w}×${h} image into ${out.width}×${out.height}; an upscaler must scale both sides by the same whole factor.`,
      );
    }
    return scale;
  }

  private async runTile(chw: Float32Array, w: number, h: number): Promise<{ data: Float32Array; width: number; height: number }> {
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await this.s.session.run({ [this.inputName]: floatTensor(this.dtype, chw, [1, 3, h, w]) });
    } catch (err) {
      throw new ModelError(`upscaler ${this.name} failed on a ${w}×${h} tile: ${firstLine(err)}. Try another tile size (UPSCALER_TILE_SIZE).`);
    }
    const t = out[this.outputName] as ort.Tensor;
    if (t.dims.length !== 4 || t.dims[1] !== 3) throw new ModelError(`upscaler ${this.name} returned shape [${t.dims.join(', ')}]; expected [1, 3, H, W].`);
    return { data: tensorToFloat32(t), width: t.dims[3], height: t.dims[2] };
  }

  /** Planar RGB in [0, 1] (width×height) → planar RGB in [0, 1] (scale× each side), tile by tile. */
  async upscalePlanar(chw: Float32Array, width: number, height: number): Promise<Float32Array> {
    // Tiles never exceed the tile size; an image smaller than a tile is padded (edge pixels
    // repeated) up to it for fixed-size graphs, or to a multiple of 8 for pixel-unshuffle ones.
    const tw = this.fixed.width ?? Math.min(this.tileSize, roundUp(width, 8));
    const th = this.fixed.height ?? Math.min(this.tileSize, roundUp(height, 8));
    const pw = Math.max(width, tw);
    const ph = Math.max(height, th);
    const padded = pw === width && ph === height ? chw : padEdge(chw, width, height, pw, ph);
    const s = this.scale;
    const blender = new TileBlender(3, pw * s, ph * s, this.tileOverlap * s);
    for (const r of tileGrid(pw, ph, tw, this.tileOverlap, th)) {
      const out = await this.runTile(cropPlanar(padded, 3, pw, ph, r), r.width, r.height);
      if (out.width !== r.width * s || out.height !== r.height * s) {
        throw new ModelError(`upscaler ${this.name} returned ${out.width}×${out.height} for a ${r.width}×${r.height} tile; expected ${s}×.`);
      }
      blender.add(out.data, r.x * s, r.y * s, out.width, out.height);
    }
    const full = blender.result();
    return pw === width && ph === height ? full : cropPlanar(full, 3, pw * s, ph * s, { x: 0, y: 0, width: width * s, height: height * s });
  }

  /** Packed RGB bytes → packed RGB bytes at scale×. */
  async upscaleRgb(rgb: Uint8Array, width: number, height: number): Promise<{ rgb: Uint8Array; width: number; height: number }> {
    const plane = width * height;
    const chw = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) chw[c * plane + p] = rgb[p * 3 + c] / 255;
    const out = await this.upscalePlanar(chw, width, height);
    const ow = width * this.scale;
    const oh = height * this.scale;
    const oplane = ow * oh;
    const bytes = new Uint8Array(3 * oplane);
    for (let p = 0; p < oplane; p++) {
      for (let c = 0; c < 3; c++) {
        const v = out[c * oplane + p] * 255;
        bytes[p * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
    return { rgb: bytes, width: ow, height: oh };
  }

  async dispose(): Promise<void> {
    await this.s.session.release();
  }
}

function roundUp(v: number, m: number): number {
  return Math.ceil(v / m) * m;
}

/** Pads a planar image to pw×ph by repeating its last row and column. */
function padEdge(chw: Float32Array, w: number, h: number, pw: number, ph: number): Float32Array {
  const out = new Float32Array(3 * pw * ph);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < ph; y++) {
      const sy = Math.min(y, h - 1);
      for (let x = 0; x < pw; x++) out[c * pw * ph + y * pw + x] = chw[c * w * h + sy * w + Math.min(x, w - 1)];
    }
  }
  return out;
}

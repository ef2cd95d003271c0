// A ControlNet as published ONNX exports ship it (models/README.md, ControlNet): one graph with
// sample, timestep, encoder_hidden_states and controlnet_cond (optionally conditioning_scale, and
// SDXL's text_embeds / time_ids) returning the down-block residuals and the mid-block one. Output
// names are matched (down_block_N / mid_block…) where the export named them all, else taken in
// diffusers' return order (the down residuals, then the mid one), as onnx-web's export needs.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { residualDims, type UnetResiduals } from './controlnet-residuals.js';
import { ModelError } from './errors.js';
import { createSession, requireInput, type Device, type LoadedSession } from './sessions.js';
import { floatTensor, tensorToFloat32, type FloatType } from './tensors.js';
import { timestepTensor } from './unet-inputs.js';

type Meta = ort.InferenceSession.TensorValueMetadata;

export const CONTROLNETS_FOLDER = 'controlnets';
const DOWN_OUTPUT = /^down_block(?:_res_samples?)?[._]?(\d+)$/;
const MID_OUTPUTS = ['mid_block_res_sample', 'mid_block', 'mid_block_additional_residual'];
const COND_INPUTS = ['controlnet_cond', 'cond', 'image'];

/** Installed ControlNets: folders of $MODELS_DIR/controlnets with a model.onnx. */
export function listControlNets(modelsDir: string): string[] {
  const root = join(modelsDir, CONTROLNETS_FOLDER);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => existsSync(join(root, n, 'model.onnx')))
    .sort();
}

/** A ControlNet name (a folder of $MODELS_DIR/controlnets) or a path to a ControlNet folder. */
export function resolveControlNetDir(modelsDir: string, nameOrDir: string): string {
  // A bare name is a folder of $MODELS_DIR/controlnets; anything with a slash (or . / ..) is a path.
  const isPath = isAbsolute(nameOrDir) || /[\\/]/.test(nameOrDir) || nameOrDir === '.' || nameOrDir === '..';
  const dir = isPath ? resolve(nameOrDir) : join(modelsDir, CONTROLNETS_FOLDER, nameOrDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    const installed = listControlNets(modelsDir);
    throw new ModelError(
      `ControlNet "${nameOrDir}" is not installed (no folder ${dir}). ` +
        (installed.length
          ? `Installed: ${installed.join(', ')}.`
          : `Put one in ${join(modelsDir, CONTROLNETS_FOLDER)}/<name>/model.onnx (see models/README.md).`),
    );
  }
  if (!existsSync(join(dir, 'model.onnx')))
    throw new ModelError(`ControlNet folder ${dir} has no model.onnx. Re-download or re-export it (see models/README.md).`);
  return dir;
}

function floatOf(meta: Meta, what: string): FloatType {
  if (meta.type === 'float32' || meta.type === 'float16') return meta.type;
  throw new ModelError(`ControlNet input "${meta.name}" (${what}) has type ${meta.type}; expected float32 or float16. Re-export it.`);
}

export interface ControlNetStepInputs {
  /** The UNet's 4-channel scaled latents, the whole guidance batch. */
  sample: Float32Array;
  timestep: number;
  /** encoder_hidden_states as the UNet gets it. */
  hidden: ort.Tensor;
  /** The control map, [batch, 3, H, W] in 0–1, repeated like the batch. */
  cond: Float32Array;
  /** The UNet's extra feeds (SDXL's text_embeds, time_ids); those the ControlNet declares are passed. */
  extra: Record<string, ort.Tensor>;
  batch: number;
  lh: number;
  lw: number;
  /** controlnet_conditioning_scale for this step. */
  scale: number;
}

export class ControlNet {
  private readonly outputOrder: string[];
  private constructor(
    readonly name: string,
    readonly dir: string,
    private readonly s: LoadedSession,
    private readonly residuals: UnetResiduals,
  ) {
    this.outputOrder = this.matchOutputs();
  }

  /** Loads `dir`/model.onnx and checks it fits the UNet's residual inputs and text width. */
  static async load(dir: string, device: Device, residuals: UnetResiduals, unet: LoadedSession, modelName: string): Promise<ControlNet> {
    const s = await createSession(join(dir, 'model.onnx'), device, 'controlnet');
    const cn = new ControlNet(basename(dir), dir, s, residuals);
    try {
      for (const name of ['sample', 'timestep', 'encoder_hidden_states']) requireInput(s, 'controlnet', [name]);
      requireInput(s, 'controlnet', COND_INPUTS);
      const theirs = s.inputs.get('encoder_hidden_states')!.shape[2];
      const ours = unet.inputs.get('encoder_hidden_states')?.shape[2];
      if (typeof theirs === 'number' && typeof ours === 'number' && theirs !== ours) {
        throw new ModelError(
          `ControlNet ${cn.name} reads text of width ${theirs}, but model ${modelName} has ${ours}: it belongs to another model family. Use a ControlNet made for ${modelName}'s family.`,
        );
      }
    } catch (err) {
      await s.session.release();
      throw err;
    }
    return cn;
  }

  /** Output names in the UNet's residual order. */
  private matchOutputs(): string[] {
    const names = [...this.s.outputs.keys()];
    const want = this.residuals.slots.length;
    const byIndex = new Map<number, string>();
    for (const n of names) {
      const m = DOWN_OUTPUT.exec(n);
      if (m) byIndex.set(Number(m[1]), n);
    }
    const mid = MID_OUTPUTS.find((n) => this.s.outputs.has(n));
    const downs = Array.from({ length: this.residuals.downCount }, (_, i) => byIndex.get(i));
    if (mid && byIndex.size === this.residuals.downCount && downs.every((d) => d !== undefined)) return [...(downs as string[]), mid];
    if (names.length !== want) {
      throw new ModelError(
        `ControlNet ${this.name} gives ${names.length} outputs, but the UNet takes ${want} residuals (${this.residuals.downCount} down + 1 mid): it belongs to another model family.`,
      );
    }
    return names;
  }

  async run(x: ControlNetStepInputs): Promise<Float32Array[]> {
    const s = this.s;
    const sampleMeta = requireInput(s, 'controlnet', ['sample']);
    const condMeta = requireInput(s, 'controlnet', COND_INPUTS);
    const feeds: Record<string, ort.Tensor> = {
      [sampleMeta.name]: floatTensor(floatOf(sampleMeta, 'sample'), x.sample, [x.batch, 4, x.lh, x.lw]),
      timestep: timestepTensor(requireInput(s, 'controlnet', ['timestep']), 'controlnet', x.timestep, x.batch),
      encoder_hidden_states: x.hidden,
      [condMeta.name]: floatTensor(floatOf(condMeta, 'control image'), x.cond, [x.batch, 3, x.lh * 8, x.lw * 8]),
    };
    for (const [name, t] of Object.entries(x.extra)) if (s.inputs.has(name)) feeds[name] = t;
    // A graph that scales by itself gets the scale; otherwise the residuals are scaled here.
    const scaleMeta = s.inputs.get('conditioning_scale');
    if (scaleMeta) {
      const dims = scaleMeta.shape.map(() => 1);
      feeds[scaleMeta.name] = floatTensor(floatOf(scaleMeta, 'conditioning_scale'), Float32Array.of(x.scale), dims);
    }
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await s.session.run(feeds);
    } catch (err) {
      throw new ModelError(
        `ControlNet ${this.name} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}. It may belong to another model family.`,
      );
    }
    return this.outputOrder.map((name, i) => {
      const t = out[name] as ort.Tensor;
      const want = residualDims(this.residuals.slots[i], x.batch, x.lh, x.lw);
      if (t.dims.length !== 4 || t.dims.some((d, k) => d !== want[k])) {
        throw new ModelError(
          `ControlNet ${this.name}'s output ${name} is [${t.dims.join(', ')}], but the UNet's ${this.residuals.slots[i].name} takes [${want.join(', ')}]: it belongs to another model family.`,
        );
      }
      const data = tensorToFloat32(t);
      if (scaleMeta || x.scale === 1) return data;
      const scaled = new Float32Array(data.length);
      for (let k = 0; k < data.length; k++) scaled[k] = data[k] * x.scale;
      return scaled;
    });
  }

  async dispose(): Promise<void> {
    await this.s.session.release();
  }
}

/**
 * diffusers' controlnet_keep: step i of n runs the ControlNet unless i/n < start or
 * (i+1)/n > end.
 */
export function controlActive(i: number, n: number, start: number, end: number): boolean {
  return !(i / n < start || (i + 1) / n > end);
}

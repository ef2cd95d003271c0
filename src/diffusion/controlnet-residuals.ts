// The residual inputs of a ControlNet-ready UNet, in the flattened layout the published ONNX
// exports use (Amblyopius/Stable-Diffusion-ONNX-FP16's conv_sd_to_onnx.py --controlnet, onnx-web's
// cnet/ UNet): down_block_0 … down_block_{N-1} and mid_block_additional_residual, diffusers'
// down_block_additional_residuals tuple and mid_block_additional_residual, one input each.
//
// A plain job on such a UNet feeds zeros, which is exactly what the UNet adds without a
// ControlNet (diffusers: residual + 0), so the picture is the plain one. Their shapes follow
// diffusers' UNet2DConditionModel: conv_in's output, then per down block `layers_per_block`
// outputs at its resolution and (all but the last block) the downsampler's at half of it; the
// mid block sits at the last block's resolution. Channels are the graph's own where fixed,
// else unet/config.json's block_out_channels.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { ModelError } from './errors.js';
import type { LoadedSession } from './sessions.js';
import type { FloatType } from './tensors.js';

type Meta = ort.InferenceSession.TensorValueMetadata;

const DOWN_INPUT = /^down_block(?:_additional_residuals?)?[._]?(\d+)$/;
const MID_INPUTS = ['mid_block_additional_residual', 'mid_block_res_sample', 'mid_block'];
/** SD 1.x, 2.x and SDXL all have two resnets per down block. */
const DEFAULT_LAYERS_PER_BLOCK = 2;

export interface ResidualSlot {
  name: string;
  type: FloatType;
  channels: number;
  /** Spatial divisor against the latent grid (1, 2, 4, 8). */
  divisor: number;
}

export interface UnetResiduals {
  /** down_block_0 … in order, then the mid residual last (diffusers' ControlNet output order). */
  slots: ResidualSlot[];
  downCount: number;
}

const unetConfigSchema = z.looseObject({
  layers_per_block: z.number().int().positive().optional(),
  block_out_channels: z.array(z.number().int().positive()).optional(),
});

function readUnetConfig(unetPath: string): z.infer<typeof unetConfigSchema> {
  const path = join(dirname(unetPath), 'config.json');
  if (!existsSync(path)) return {};
  const parsed = unetConfigSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data : {};
}

function floatOf(meta: Meta): FloatType {
  if (meta.type === 'float32' || meta.type === 'float16') return meta.type;
  throw new ModelError(`unet input "${meta.name}" has type ${meta.type}; expected float32 or float16. Re-export the model.`);
}

/** The spatial divisor of each down residual and of the mid one, for `blocks` × `layers`. */
export function residualDivisors(blocks: number, layers: number): { down: number[]; mid: number } {
  const down = [1];
  for (let b = 0; b < blocks; b++) {
    for (let l = 0; l < layers; l++) down.push(2 ** b);
    if (b < blocks - 1) down.push(2 ** (b + 1));
  }
  return { down, mid: 2 ** (blocks - 1) };
}

/** The UNet's residual inputs, or undefined for a plain UNet. A half-declared set is a broken export. */
export function describeUnetResiduals(unet: LoadedSession): UnetResiduals | undefined {
  const downs = new Map<number, Meta>();
  for (const [name, meta] of unet.inputs) {
    const m = DOWN_INPUT.exec(name);
    if (m) downs.set(Number(m[1]), meta);
  }
  const mid = MID_INPUTS.map((n) => unet.inputs.get(n)).find((m) => m !== undefined);
  if (downs.size === 0 && !mid) return undefined;
  const n = downs.size;
  if (!mid || n === 0 || [...downs.keys()].some((k) => k >= n)) {
    throw new ModelError(
      `unet takes only part of the ControlNet residuals ([${[...unet.inputs.keys()].join(', ')}]); a ControlNet UNet takes down_block_0 … down_block_N and mid_block_additional_residual. Re-export it (see models/README.md, ControlNet).`,
    );
  }
  const config = readUnetConfig(unet.path);
  const layers = config.layers_per_block ?? DEFAULT_LAYERS_PER_BLOCK;
  const blocks = n / (layers + 1);
  if (!Number.isInteger(blocks) || (config.block_out_channels && config.block_out_channels.length !== blocks)) {
    throw new ModelError(
      `unet takes ${n} down-block residuals, which does not fit ${layers} layers per block${config.block_out_channels ? ` and ${config.block_out_channels.length} blocks` : ''} (unet/config.json). Re-export the model.`,
    );
  }
  const divisors = residualDivisors(blocks, layers);
  // Which block's channels each residual has: conv_in → block 0; layers → their block; downsampler → its block.
  const blockOf: number[] = [0];
  for (let b = 0; b < blocks; b++) {
    for (let l = 0; l < layers; l++) blockOf.push(b);
    if (b < blocks - 1) blockOf.push(b);
  }
  const channelsOf = (meta: Meta, block: number): number => {
    const declared = meta.shape[1];
    if (typeof declared === 'number') return declared;
    const fromConfig = config.block_out_channels?.[block];
    if (fromConfig === undefined) {
      throw new ModelError(
        `unet input "${meta.name}" has no fixed channel count and unet/config.json has no block_out_channels. Add the export's config.json.`,
      );
    }
    return fromConfig;
  };
  const slots: ResidualSlot[] = [];
  for (let i = 0; i < n; i++) {
    const meta = downs.get(i)!;
    slots.push({ name: meta.name, type: floatOf(meta), channels: channelsOf(meta, blockOf[i]), divisor: divisors.down[i] });
  }
  slots.push({ name: mid.name, type: floatOf(mid), channels: channelsOf(mid, blocks - 1), divisor: divisors.mid });
  return { slots, downCount: n };
}

/** [batch, channels, ⌈lh / d⌉, ⌈lw / d⌉]: a stride-2 convolution with padding 1 rounds up. */
export function residualDims(slot: ResidualSlot, batch: number, lh: number, lw: number): number[] {
  return [batch, slot.channels, Math.ceil(lh / slot.divisor), Math.ceil(lw / slot.divisor)];
}

export function residualSize(slot: ResidualSlot, batch: number, lh: number, lw: number): number {
  return residualDims(slot, batch, lh, lw).reduce((a, b) => a * b, 1);
}

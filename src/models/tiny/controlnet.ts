// The tiny ControlNet pair, in the flattened layout published ONNX exports use (models/README.md,
// ControlNet):
// - a residual-taking UNet: the tiny UNet plus down_block_0 … down_block_3 and
//   mid_block_additional_residual inputs. Its unet/config.json (two blocks, one layer per block)
//   says where each residual sits, as diffusers' UNet2DConditionModel lays them out: conv_in and
//   block 0 at the latent size, block 0's downsampler, block 1 and the mid block at half of it.
//   Each residual goes through a bias-free 1×1 convolution and is added to the UNet's features,
//   so zeros add exactly nothing: fed zeros, it draws the plain tiny UNet's picture.
// - a ControlNet graph: sample, timestep, encoder_hidden_states, controlnet_cond [batch, 3, H, W]
//   in 0–1 (optionally conditioning_scale) → down_block_0 … down_block_3, mid_block_res_sample.
// Weights come from their own streams, so the base UNet's weights are unchanged.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';
import type { TimestepInput } from './unet.js';

import { dimsAt, MID_DIVISOR, TINY_CONTROL_BLOCKS, TINY_CONTROL_LAYERS } from './unet-residuals.js';

const GAIN = { hint: 2, sample: 0.3, text: 0.5, time: 0.5, out: 1 };

export interface TinyControlNetSpec {
  channels: number;
  hidden: number;
  float: 'float32' | 'float16';
  timestep: TimestepInput;
  seed: number;
  /** Declare a conditioning_scale input that scales the outputs in-graph (some exports do). */
  scaleInput?: boolean;
}

export function buildTinyControlNet(spec: TinyControlNetSpec): EncodedModel {
  const { channels: c, hidden, float } = spec;
  const g = new GraphBuilder({ name: 'controlnet', floatStorage: float });
  const L = new Layers(g, new WeightStream(spec.seed, 'controlnet'));
  const sample = g.floatInput('sample', float, ['batch_size', 4, 'height', 'width']);
  const tIn = g.input('timestep', spec.timestep === 'int64' ? 'int64' : float, spec.timestep === 'float-scalar' ? [] : ['steps']);
  const text = g.floatInput('encoder_hidden_states', float, ['batch_size', 'sequence_length', hidden]);
  const cond = g.floatInput('controlnet_cond', float, ['batch_size', 3, 'image_height', 'image_width']);
  const scale = spec.scaleInput ? g.floatInput('conditioning_scale', float, []) : undefined;

  // ControlNet's conditioning embedding, cut down: the map pooled onto the latent grid, then a conv.
  const hint = g.op('AveragePool', [cond], { kernel_shape: [8, 8], strides: [8, 8] });
  let f = L.conv(hint, 3, c, 3, { name: 'hint', gain: GAIN.hint, padding: 'edge' });
  f = g.op('Add', [f, L.conv(sample, 4, c, 3, { name: 'conv_in', gain: GAIN.sample, padding: 'edge' })]);
  const pooledText = g.op('ReduceMean', [text], { axes: [1], keepdims: 0 });
  const textBias = L.linear(pooledText, hidden, c, { name: 'text', gain: GAIN.text });
  f = g.op('Add', [f, g.op('Unsqueeze', [textBias, g.int64s('hw_axes', [2, 3])])]);
  const t = g.op('Reshape', [g.op('Div', [L.toFloat(tIn), g.scalar('t_scale', 1000)]), g.int64s('per_item', [-1, 1, 1, 1])]);
  f = g.op('Add', [f, g.op('Mul', [t, g.floats('time_gain', new WeightStream(spec.seed, 'controlnet_time').normals(c, GAIN.time), [1, c, 1, 1])])]);
  f = L.silu(f);
  const f2 = g.op('AveragePool', [f], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 });

  const block = (x: string, name: string) => L.silu(L.conv(x, c, c, 3, { name, padding: 'edge' }));
  const zeroConv = (x: string, name: string) => {
    const y = L.conv(x, c, c, 1, { name, gain: GAIN.out });
    return scale ? g.op('Mul', [y, scale]) : y;
  };
  const outputs: [string, string, number][] = [
    [zeroConv(f, 'out_0'), 'down_block_0', 1],
    [zeroConv(block(f, 'block_0'), 'out_1'), 'down_block_1', 1],
    [zeroConv(f2, 'out_2'), 'down_block_2', 2],
    [zeroConv(block(f2, 'block_1'), 'out_3'), 'down_block_3', 2],
    [zeroConv(block(f2, 'mid'), 'out_mid'), 'mid_block_res_sample', MID_DIVISOR],
  ];
  for (const [value, name, d] of outputs) g.floatOutput(value, name, float, dimsAt(d, c));
  return g.encode();
}

const baseUnetConfigSchema = z.looseObject({
  block_out_channels: z.array(z.number().int().positive()),
  layers_per_block: z.number().int().positive(),
  cross_attention_dim: z.number().int().positive(),
});

/** Reads what the ControlNet must match from the base model's tiny UNet: dtype, timestep type, widths. */
function baseUnetSignature(modelDir: string): { float: 'float32' | 'float16'; timestep: TimestepInput; channels: number; hidden: number } {
  const configPath = join(modelDir, 'unet', 'config.json');
  const onnxPath = join(modelDir, 'unet', 'model.onnx');
  if (!existsSync(configPath) || !existsSync(onnxPath)) throw new Error(`${modelDir} is not a model folder (no unet/config.json or unet/model.onnx).`);
  const config = baseUnetConfigSchema.safeParse(JSON.parse(readFileSync(configPath, 'utf8')));
  if (!config.success || config.data.block_out_channels.length !== TINY_CONTROL_BLOCKS || config.data.layers_per_block !== TINY_CONTROL_LAYERS) {
    throw new Error(
      `${modelDir} is not a tiny ControlNet-ready model: create one with "npm run models -- create-tiny ${modelDir} --controlnet-unet" (create-tiny-controlnet makes ControlNets for tiny models only).`,
    );
  }
  const graph = onnxProto.onnx.ModelProto.decode(readFileSync(onnxPath)).graph;
  const input = (name: string) => graph?.input?.find((i) => i.name === name)?.type?.tensorType;
  const T = onnxProto.onnx.TensorProto.DataType;
  const sample = input('sample');
  const ts = input('timestep');
  if (!sample || !ts) throw new Error(`${onnxPath} has no sample or timestep input.`);
  const timestep: TimestepInput = ts.elemType === T.INT64 ? 'int64' : (ts.shape?.dim?.length ?? 0) === 0 ? 'float-scalar' : 'float';
  return {
    float: sample.elemType === T.FLOAT16 ? 'float16' : 'float32',
    timestep,
    channels: config.data.block_out_channels[0],
    hidden: config.data.cross_attention_dim,
  };
}

export interface TinyControlNetOptions {
  /** The tiny model (made with controlnetUnet) whose UNet the ControlNet feeds. */
  model: string;
  seed?: number;
  scaleInput?: boolean;
}

/** Writes `dir`/model.onnx + config.json (diffusers' ControlNetModel config, cut down). */
export async function createTinyControlNet(dir: string, options: TinyControlNetOptions): Promise<void> {
  const sig = baseUnetSignature(options.model);
  await mkdir(dir, { recursive: true });
  const encoded = buildTinyControlNet({ ...sig, seed: options.seed ?? 4321, scaleInput: options.scaleInput });
  await writeFile(join(dir, 'model.onnx'), encoded.model);
  const config = {
    _class_name: 'ControlNetModel',
    _diffusers_version: '0.30.0',
    block_out_channels: Array.from({ length: TINY_CONTROL_BLOCKS }, () => sig.channels),
    conditioning_channels: 3,
    controlnet_conditioning_channel_order: 'rgb',
    cross_attention_dim: sig.hidden,
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    in_channels: 4,
    layers_per_block: TINY_CONTROL_LAYERS,
  };
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

// The tiny UNet's ControlNet residual inputs (the ControlNet-ready variant, see controlnet.ts):
// down_block_0 … 3 and mid_block_additional_residual, each through a bias-free 1×1 convolution
// added to the UNet's features, so zeros add exactly nothing.
import type { GraphBuilder } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

/** Two down blocks, one layer each: 1 + 2 × 1 + 1 = 4 down residuals, as the config below says. */
export const TINY_CONTROL_BLOCKS = 2;
export const TINY_CONTROL_LAYERS = 1;
/** Spatial divisor of down_block_0 … 3 and of the mid residual (controlnet-residuals.ts's rule). */
export const DOWN_DIVISORS = [1, 1, 2, 2] as const;
export const MID_DIVISOR = 2;
const RESIDUAL_GAIN = 0.6;

export const dimsAt = (divisor: number, c: number) =>
  divisor === 1 ? ['batch_size', c, 'height', 'width'] : ['batch_size', c, `height_${divisor}`, `width_${divisor}`];

/** unet/config.json keys for the residual layout (block_out_channels, down blocks, layers). */
export function residualUnetConfig(channels: number): Record<string, unknown> {
  return {
    block_out_channels: Array.from({ length: TINY_CONTROL_BLOCKS }, () => channels),
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    layers_per_block: TINY_CONTROL_LAYERS,
  };
}

/**
 * Declares the residual inputs and returns what they add to features `h` [batch, c, h, w]:
 * Σ conv1×1(full-size residuals) + resize(Σ conv1×1(half-size residuals)) to h's size.
 */
export function residualContribution(g: GraphBuilder, float: 'float32' | 'float16', c: number, seed: number, h: string): string {
  const L = new Layers(g, new WeightStream(seed, 'unet_control_residuals'));
  const project = (x: string, name: string) => L.conv(x, c, c, 1, { name, gain: RESIDUAL_GAIN });
  const full: string[] = [];
  const half: string[] = [];
  DOWN_DIVISORS.forEach((d, i) => {
    const x = g.floatInput(`down_block_${i}`, float, dimsAt(d, c));
    (d === 1 ? full : half).push(project(x, `residual_${i}`));
  });
  half.push(project(g.floatInput('mid_block_additional_residual', float, dimsAt(MID_DIVISOR, c)), 'residual_mid'));
  const sum = (xs: string[]) => xs.reduce((a, b) => g.op('Add', [a, b]));
  const up = g.op('Resize', [sum(half), '', '', g.op('Shape', [h])], { mode: 'linear' });
  return g.op('Add', [sum(full), up]);
}

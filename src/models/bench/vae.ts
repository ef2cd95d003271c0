// AutoencoderKL's encoder and decoder with a real configuration's shapes (SD 1.x/2.x and SDXL
// share them: 128-256-512-512 channels, two ResNet blocks per level, one mid-block attention)
// and random weights, in optimum's signatures: vae_decoder latent_sample → sample (with
// post_quant_conv), vae_encoder sample → latent_parameters (mean ‖ logvar, with quant_conv).
import { GraphBuilder, type ExternalDataOptions } from '../onnx/builder.js';
import { Layers } from '../tiny/layers.js';
import type { BuiltGraph } from '../tiny/text-encoder.js';
import { WeightStream } from '../tiny/weights.js';
import type { VaeArch } from './architectures.js';
import { upsample } from './unet.js';

export interface BenchVaeSpec {
  arch: VaeArch;
  float: 'float32' | 'float16';
  seed: number;
  externalData?: ExternalDataOptions;
}

const LATENT_CHANNELS = 4;
const EPS = 1e-6;

function blocks(L: Layers, a: VaeArch) {
  const g = L.g;
  const norm = (x: string, c: number, name: string) => L.groupNorm(x, c, { groups: a.groups, epsilon: EPS, name });
  const resnet = (x: string, cin: number, cout: number, name: string) => {
    let h = L.conv(L.silu(norm(x, cin, `${name}_norm1`)), cin, cout, 3, { name: `${name}_conv1` });
    h = L.conv(L.silu(norm(h, cout, `${name}_norm2`)), cout, cout, 3, { name: `${name}_conv2`, gain: 0.5 });
    return g.op('Add', [cin === cout ? x : L.conv(x, cin, cout, 1, { name: `${name}_conv_shortcut` }), h]);
  };
  // The mid block's single-head self-attention over all positions.
  const attention = (x: string, c: number, name: string) => {
    const tokens = g.op('Transpose', [g.op('Reshape', [norm(x, c, `${name}_norm`), g.int64s('flatten_hw', [0, c, -1])])], { perm: [0, 2, 1] });
    const [q, k, v] = ['q', 'k', 'v'].map((p) => L.linear(tokens, c, c, { name: `${name}_to_${p}`, bias: true }));
    const out = L.linear(L.attention(q, k, v, c), c, c, { name: `${name}_to_out`, bias: true, gain: 0.5 });
    return g.op('Add', [x, g.op('Reshape', [g.op('Transpose', [out], { perm: [0, 2, 1] }), g.op('Shape', [x])])]);
  };
  const mid = (x: string, c: number) => resnet(attention(resnet(x, c, c, 'mid_res0'), c, 'mid_attn'), c, c, 'mid_res1');
  return { norm, resnet, mid };
}

export function buildBenchVaeDecoder(spec: BenchVaeSpec): BuiltGraph {
  const a = spec.arch;
  const g = new GraphBuilder({ name: 'vae_decoder', floatStorage: spec.float, compute: spec.float, externalData: spec.externalData });
  const L = new Layers(g, new WeightStream(spec.seed, 'bench_vae_decoder'), { streamed: true });
  const { norm, resnet, mid } = blocks(L, a);
  const z = g.floatInput('latent_sample', spec.float, ['batch_size', LATENT_CHANNELS, 'height_latent', 'width_latent']);
  const top = a.channels[a.channels.length - 1];
  let h = L.conv(L.conv(z, LATENT_CHANNELS, LATENT_CHANNELS, 1, { name: 'post_quant_conv' }), LATENT_CHANNELS, top, 3, { name: 'conv_in' });
  h = mid(h, top);
  let hc = top;
  const n = a.channels.length;
  for (let i = 0; i < n; i++) {
    const c = a.channels[n - 1 - i];
    for (let j = 0; j <= a.layersPerBlock; j++) {
      h = resnet(h, hc, c, `up${i}_res${j}`);
      hc = c;
    }
    if (i < n - 1) h = L.conv(upsample(g, h), c, c, 3, { name: `up${i}_upsample` });
  }
  h = L.conv(L.silu(norm(h, hc, 'conv_norm_out')), hc, 3, 3, { name: 'conv_out' });
  g.floatOutput(h, 'sample', spec.float, ['batch_size', 3, 'height', 'width']);
  return { ...g.encode(), parameters: L.parameters };
}

export function buildBenchVaeEncoder(spec: BenchVaeSpec): BuiltGraph {
  const a = spec.arch;
  const g = new GraphBuilder({ name: 'vae_encoder', floatStorage: spec.float, compute: spec.float, externalData: spec.externalData });
  const L = new Layers(g, new WeightStream(spec.seed, 'bench_vae_encoder'), { streamed: true });
  const { norm, resnet, mid } = blocks(L, a);
  const x = g.floatInput('sample', spec.float, ['batch_size', 3, 'height', 'width']);
  let h = L.conv(x, 3, a.channels[0], 3, { name: 'conv_in' });
  let hc = a.channels[0];
  const n = a.channels.length;
  for (let i = 0; i < n; i++) {
    const c = a.channels[i];
    for (let j = 0; j < a.layersPerBlock; j++) {
      h = resnet(h, hc, c, `down${i}_res${j}`);
      hc = c;
    }
    // diffusers' Downsample2D(padding=0): pad right and bottom by one, then a stride-2 3×3 conv.
    if (i < n - 1) h = L.conv(h, c, c, 3, { name: `down${i}_downsample`, stride: 2, pads: [0, 0, 1, 1] });
  }
  h = mid(h, hc);
  const moments = 2 * LATENT_CHANNELS;
  h = L.conv(L.silu(norm(h, hc, 'conv_norm_out')), hc, moments, 3, { name: 'conv_out' });
  h = L.conv(h, moments, moments, 1, { name: 'quant_conv' });
  g.floatOutput(h, 'latent_parameters', spec.float, ['batch_size', moments, 'height_latent', 'width_latent']);
  return { ...g.encode(), parameters: L.parameters };
}

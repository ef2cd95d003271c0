// UNet2DConditionModel with a real configuration's layer shapes (SD 1.x, SD 2.x, SDXL) and
// random weights, in the export signature the pipeline reads: sample [batch, 4, h, w],
// timestep int64 [steps], encoder_hidden_states [batch, sequence, cross_attention_dim]
// (SDXL: + text_embeds, time_ids) → out_sample. The blocks are diffusers': ResnetBlock2D
// (GroupNorm, SiLU, 3×3 convs, time projection, 1×1 shortcut), Transformer2DModel
// (GroupNorm, proj_in, BasicTransformerBlock: self-attention, cross-attention, GEGLU
// feed-forward, proj_out), strided-conv down- and nearest+conv up-sampling, skip concatenation.
// Its pictures are noise; its cost per step is the real model's.
import { GraphBuilder, type ExternalDataOptions } from '../onnx/builder.js';
import { Layers } from '../tiny/layers.js';
import type { BuiltGraph } from '../tiny/text-encoder.js';
import { WeightStream } from '../tiny/weights.js';
import type { UnetArch } from './architectures.js';

export interface BenchUnetSpec {
  arch: UnetArch;
  float: 'float32' | 'float16';
  seed: number;
  externalData?: ExternalDataOptions;
}

const TIME_IDS = 6;
/** Residual branches start small, as trained UNets' do, so the random network's activations stay moderate. */
const BRANCH_GAIN = 0.5;

export function buildBenchUnet(spec: BenchUnetSpec): BuiltGraph {
  const a = spec.arch;
  const float = spec.float;
  const g = new GraphBuilder({ name: 'unet', floatStorage: float, compute: float, externalData: spec.externalData });
  const L = new Layers(g, new WeightStream(spec.seed, 'bench_unet'), { streamed: true });
  const c0 = a.channels[0];
  const tembDim = 4 * c0;
  const norm = (x: string, c: number, name: string, epsilon = 1e-5) => L.groupNorm(x, c, { groups: a.groups, epsilon, name });

  const sample = g.floatInput('sample', float, ['batch_size', 4, 'height', 'width']);
  const timestep = g.input('timestep', 'int64', ['steps']);
  const context = g.floatInput('encoder_hidden_states', float, ['batch_size', 'sequence_length', a.crossAttentionDim]);
  const textEmbeds = a.textTime ? g.floatInput('text_embeds', float, ['batch_size', a.textTime.pooled]) : undefined;
  const timeIds = a.textTime ? g.floatInput('time_ids', float, ['batch_size', TIME_IDS]) : undefined;

  // diffusers' Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0): [cos | sin] of t·freqs.
  const sinusoid = (values: string, dim: number, name: string) => {
    const half = dim / 2;
    const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
    const angles = g.op('Mul', [g.op('Unsqueeze', [values, g.int64s(`${name}_axis`, [1])]), g.floats(`${name}_freqs`, freqs, [1, half])]);
    return g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: 1 });
  };
  const t = g.op('Reshape', [L.toFloat(timestep), g.int64s('flat', [-1])]);
  const mlp = (x: string, inDim: number, name: string) =>
    L.linear(L.silu(L.linear(x, inDim, tembDim, { name: `${name}_1`, bias: true })), tembDim, tembDim, { name: `${name}_2`, bias: true });
  let temb = mlp(sinusoid(t, c0, 'time_proj'), c0, 'time_embedding');
  if (a.textTime && textEmbeds && timeIds) {
    // SDXL's add_time_proj + add_embedding over [text_embeds | sinusoids of the six time ids].
    const perId = sinusoid(g.op('Reshape', [timeIds, g.int64s('time_ids_flat', [-1])]), a.textTime.timeEmbedDim, 'add_time_proj');
    const timeEmb = g.op('Reshape', [perId, g.int64s('time_ids_rows', [-1, TIME_IDS * a.textTime.timeEmbedDim])]);
    const joined = g.op('Concat', [textEmbeds, timeEmb], { axis: 1 });
    temb = g.op('Add', [temb, mlp(joined, a.textTime.pooled + TIME_IDS * a.textTime.timeEmbedDim, 'add_embedding')]);
  }
  const tembAct = L.silu(temb);

  const resnet = (x: string, cin: number, cout: number, name: string) => {
    let h = L.conv(L.silu(norm(x, cin, `${name}_norm1`)), cin, cout, 3, { name: `${name}_conv1` });
    const tproj = L.linear(tembAct, tembDim, cout, { name: `${name}_time_emb_proj`, bias: true });
    h = g.op('Add', [h, g.op('Unsqueeze', [tproj, g.int64s('hw_axes', [2, 3])])]);
    h = L.conv(L.silu(norm(h, cout, `${name}_norm2`)), cout, cout, 3, { name: `${name}_conv2`, gain: BRANCH_GAIN });
    const shortcut = cin === cout ? x : L.conv(x, cin, cout, 1, { name: `${name}_conv_shortcut` });
    return g.op('Add', [shortcut, h]);
  };

  const attentionBlock = (x: string, kv: string, kvDim: number, c: number, heads: number, name: string) => {
    const q = L.linear(x, c, c, { name: `${name}_to_q` });
    const k = L.linear(kv, kvDim, c, { name: `${name}_to_k` });
    const v = L.linear(kv, kvDim, c, { name: `${name}_to_v` });
    return L.linear(L.multiHeadAttention(q, k, v, heads, c / heads), c, c, { name: `${name}_to_out`, bias: true, gain: BRANCH_GAIN });
  };

  const transformer = (x: string, c: number, heads: number, depth: number, name: string) => {
    let h = norm(x, c, `${name}_norm`, 1e-6);
    if (!a.linearProjection) h = L.conv(h, c, c, 1, { name: `${name}_proj_in` });
    h = g.op('Transpose', [g.op('Reshape', [h, g.int64s('flatten_hw', [0, c, -1])])], { perm: [0, 2, 1] });
    if (a.linearProjection) h = L.linear(h, c, c, { name: `${name}_proj_in`, bias: true });
    for (let d = 0; d < depth; d++) {
      const b = `${name}_block${d}`;
      const n1 = L.layerNorm(h, c, `${b}_norm1`);
      h = g.op('Add', [h, attentionBlock(n1, n1, c, c, heads, `${b}_attn1`)]);
      h = g.op('Add', [h, attentionBlock(L.layerNorm(h, c, `${b}_norm2`), context, a.crossAttentionDim, c, heads, `${b}_attn2`)]);
      // GEGLU: one projection to 8c, split into the value half and the GELU-gated half.
      const proj = L.linear(L.layerNorm(h, c, `${b}_norm3`), c, 8 * c, { name: `${b}_ff_proj`, bias: true });
      const half = (from: number, to: number) => g.op('Slice', [proj, g.int64s('ff_from', [from]), g.int64s('ff_to', [to]), g.int64s('last_axis', [-1])]);
      const gated = g.op('Mul', [half(0, 4 * c), L.gelu(half(4 * c, 8 * c))]);
      h = g.op('Add', [h, L.linear(gated, 4 * c, c, { name: `${b}_ff_out`, bias: true, gain: BRANCH_GAIN })]);
    }
    if (a.linearProjection) h = L.linear(h, c, c, { name: `${name}_proj_out`, bias: true });
    h = g.op('Reshape', [g.op('Transpose', [h], { perm: [0, 2, 1] }), g.op('Shape', [x])]);
    if (!a.linearProjection) h = L.conv(h, c, c, 1, { name: `${name}_proj_out` });
    return g.op('Add', [h, x]);
  };

  // Down path: every block output (and conv_in's) is kept for the matching up block.
  let h = L.conv(sample, 4, c0, 3, { name: 'conv_in' });
  let hc = c0;
  const skips: { value: string; channels: number }[] = [{ value: h, channels: c0 }];
  const n = a.channels.length;
  for (let i = 0; i < n; i++) {
    const c = a.channels[i];
    for (let j = 0; j < a.layersPerBlock; j++) {
      h = resnet(h, hc, c, `down${i}_res${j}`);
      hc = c;
      if (a.attention[i]) h = transformer(h, c, a.heads[i], a.transformerDepth[i], `down${i}_attn${j}`);
      skips.push({ value: h, channels: c });
    }
    if (i < n - 1) {
      h = L.conv(h, c, c, 3, { name: `down${i}_downsample`, stride: 2 });
      skips.push({ value: h, channels: c });
    }
  }

  h = resnet(h, hc, hc, 'mid_res0');
  h = transformer(h, hc, a.heads[n - 1], a.transformerDepth[n - 1], 'mid_attn');
  h = resnet(h, hc, hc, 'mid_res1');

  for (let i = 0; i < n; i++) {
    const block = n - 1 - i;
    const c = a.channels[block];
    for (let j = 0; j <= a.layersPerBlock; j++) {
      const skip = skips.pop()!;
      h = resnet(g.op('Concat', [h, skip.value], { axis: 1 }), hc + skip.channels, c, `up${i}_res${j}`);
      hc = c;
      if (a.attention[block]) h = transformer(h, c, a.heads[block], a.transformerDepth[block], `up${i}_attn${j}`);
    }
    if (i < n - 1) h = L.conv(upsample(g, h), c, c, 3, { name: `up${i}_upsample` });
  }

  h = L.conv(L.silu(norm(h, hc, 'conv_norm_out')), hc, 4, 3, { name: 'conv_out' });
  g.floatOutput(h, 'out_sample', float, ['batch_size', 4, 'height', 'width']);
  return { ...g.encode(), parameters: L.parameters };
}

/** Nearest-neighbour 2× upsampling as torch's F.interpolate(scale_factor=2) exports it. */
export function upsample(g: GraphBuilder, x: string): string {
  const scales = g.float32s('upsample_scales', Float32Array.of(1, 1, 2, 2), [4]);
  return g.op('Resize', [x, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
}

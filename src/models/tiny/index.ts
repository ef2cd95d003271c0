// A tiny random-weight Stable Diffusion in exactly the folder layout and ONNX signatures that
// optimum's exporter writes, so tests and a newcomer's first offline run exercise the real
// loading and sampling code. The graphs are small but genuine: the UNet mixes the sample,
// a sinusoidal timestep embedding and cross-attention over the text encoder's states.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder, type ElemType, type ExternalDataSink } from '../onnx/builder.js';
import { writeClipTokenizerFiles } from '../tokenizer-files.js';
import { TorchGenerator } from '../../diffusion/rng.js';

export interface TinyModelOptions {
  /** float16 inputs and outputs, as fp16 exports declare them. */
  float16?: boolean;
  /** The UNet's timestep input: int64 [batch] (diffusers' script), float [batch] or rank-0 float. */
  timestep?: 'int64' | 'float' | 'float-scalar';
  /** Legacy diffusers exports give `latent_sample`; optimum gives `latent_parameters` (mean, logvar). */
  vaeEncoderOutput?: 'latent_sample' | 'latent_parameters';
  predictionType?: 'epsilon' | 'v_prediction';
  padToken?: '<|endoftext|>' | '!';
  /** Store the UNet's weights in unet/model.onnx_data, as large exports do. */
  externalData?: boolean;
  /** Text hidden size (= the UNet's cross-attention dim). */
  hidden?: number;
  /** UNet channels. */
  channels?: number;
  seed?: number;
}

const MAX_POSITIONS = 77;

/** Deterministic weights: N(0, scale²) from a seeded torch-compatible generator. */
class Weights {
  private readonly gen: TorchGenerator;
  constructor(seed: number) {
    this.gen = new TorchGenerator(seed);
  }
  normal(n: number, scale: number): Float32Array {
    const out = this.gen.randn(n);
    for (let i = 0; i < n; i++) out[i] *= scale;
    return out;
  }
}

function filled(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}

/** Casts a float16 graph input to float32 for the body; float32 inputs pass through. */
function floatIn(g: GraphBuilder, name: string, type: ElemType): string {
  return type === 'float16' ? g.op('Cast', [name], { to: 1 }) : name;
}

function floatOut(g: GraphBuilder, value: string, name: string, type: ElemType): void {
  if (type === 'float16') g.op('Cast', [value], { to: 10 }, name);
  else g.op('Identity', [value], {}, name);
}

function textEncoder(w: Weights, vocab: number, hidden: number, ft: ElemType): Uint8Array {
  const g = new GraphBuilder('text_encoder');
  const ids = g.input('input_ids', 'int32', ['batch_size', 'sequence_length']);
  g.output('last_hidden_state', ft, ['batch_size', 'sequence_length', hidden]);
  g.output('pooler_output', ft, ['batch_size', hidden]);
  const tok = g.op('Gather', [g.init('token_embedding', w.normal(vocab * hidden, 1), [vocab, hidden]), ids]);
  const pos = g.init('position_embedding', w.normal(MAX_POSITIONS * hidden, 0.5), [MAX_POSITIONS, hidden]);
  // Positions up to the actual sequence length, so shorter inputs work too.
  const seq = g.op('Gather', [g.op('Shape', [ids]), g.ints('one', [1])]);
  const posSlice = g.op('Slice', [pos, g.ints('zero', [0]), seq, g.ints('axis0', [0])]);
  let h = g.op('Add', [tok, posSlice]);
  const ln = (x: string) =>
    g.op('LayerNormalization', [x, g.init('ln_w', filled(hidden, 1), [hidden]), g.init('ln_b', filled(hidden, 0), [hidden])], { axis: -1 });
  // One pre-norm MLP block with a residual, then the final norm: CLIP's shape in miniature.
  const mlp1 = g.op('MatMul', [ln(h), g.init('fc1', w.normal(hidden * hidden * 2, 1 / Math.sqrt(hidden)), [hidden, hidden * 2])]);
  const act = g.op('Tanh', [mlp1]);
  const mlp2 = g.op('MatMul', [act, g.init('fc2', w.normal(hidden * 2 * hidden, 1 / Math.sqrt(hidden * 2)), [hidden * 2, hidden])]);
  h = ln(g.op('Add', [h, mlp2]));
  floatOut(g, h, 'last_hidden_state', ft);
  // CLIP pools the state at the EOS token, which has the highest id.
  const eos = g.op('ArgMax', [ids], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [h, eos], { batch_dims: 1 });
  floatOut(g, pooled, 'pooler_output', ft);
  return g.encode();
}

function unet(w: Weights, hidden: number, c: number, ft: ElemType, timestep: TinyModelOptions['timestep'], external?: ExternalDataSink): Uint8Array {
  const g = new GraphBuilder('unet', external);
  const sample = floatIn(g, g.input('sample', ft, ['batch', 4, 'height', 'width']), ft);
  const tType: ElemType = timestep === 'int64' ? 'int64' : ft;
  const tIn = g.input('timestep', tType, timestep === 'float-scalar' ? [] : ['steps']);
  const enc = floatIn(g, g.input('encoder_hidden_states', ft, ['batch', 'sequence', hidden]), ft);
  g.output('out_sample', ft, ['batch', 4, 'height', 'width']);

  const conv = (x: string, cin: number, cout: number, k: number, scale = 1) =>
    g.op('Conv', [x, g.init('conv_w', w.normal(cout * cin * k * k, scale / Math.sqrt(cin * k * k)), [cout, cin, k, k]), g.init('conv_b', filled(cout, 0), [cout])], {
      kernel_shape: [k, k],
      pads: [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2],
    });
  const silu = (x: string) => g.op('Mul', [x, g.op('Sigmoid', [x])]);

  let h = conv(sample, 4, c, 3);
  // Sinusoidal timestep embedding, computed in the graph as diffusers' get_timestep_embedding.
  const half = c / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const t = g.op('Reshape', [g.op('Cast', [tIn], { to: 1 }), g.ints('col', [-1, 1])]);
  const args = g.op('Mul', [t, g.init('freqs', freqs, [1, half])]);
  const temb0 = g.op('Concat', [g.op('Sin', [args]), g.op('Cos', [args])], { axis: 1 });
  const temb = silu(g.op('MatMul', [temb0, g.init('time_w', w.normal(c * c, 1 / Math.sqrt(c)), [c, c])]));
  h = silu(g.op('Add', [h, g.op('Unsqueeze', [temb, g.ints('hw', [2, 3])])]));

  // Cross-attention: image positions attend over the text states.
  const shape = g.op('Shape', [h]);
  const x = g.op('Transpose', [g.op('Reshape', [h, g.ints('flat', [0, c, -1])])], { perm: [0, 2, 1] });
  const d = c;
  const q = g.op('MatMul', [x, g.init('to_q', w.normal(c * d, 1 / Math.sqrt(c)), [c, d])]);
  const k = g.op('MatMul', [enc, g.init('to_k', w.normal(hidden * d, 1 / Math.sqrt(hidden)), [hidden, d])]);
  const v = g.op('MatMul', [enc, g.init('to_v', w.normal(hidden * d, 1 / Math.sqrt(hidden)), [hidden, d])]);
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 2, 1] })]), g.scalar('attn_scale', 1 / Math.sqrt(d))]);
  const attn = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  const proj = g.op('MatMul', [attn, g.init('to_out', w.normal(d * c, 2 / Math.sqrt(d)), [d, c])]);
  const back = g.op('Reshape', [g.op('Transpose', [proj], { perm: [0, 2, 1] }), shape]);
  h = silu(g.op('Add', [h, back]));

  // A noise prediction close to the (scaled) sample keeps sampling stable; the learned part
  // carries the prompt and timestep into the picture.
  const eps = g.op('Add', [g.op('Mul', [sample, g.scalar('skip', 0.8)]), conv(h, c, 4, 3, 0.6)]);
  floatOut(g, eps, 'out_sample', ft);
  return g.encode();
}

/**
 * The decoder's colour mixing: a fixed 3×4 matrix from latent channels to RGB. The encoder
 * uses its pseudo-inverse, so encode(decode(z)) keeps z's colours and layout, which is what
 * image-to-image needs to be testable.
 */
function decoderMix(w: Weights): Float32Array {
  return w.normal(12, 0.025);
}

/** Moore–Penrose pseudo-inverse of a 3×4 matrix A (row-major): Aᵀ (A Aᵀ)⁻¹, a 4×3 matrix. */
function pseudoInverse3x4(a: Float32Array): Float32Array {
  const m = Array.from({ length: 3 }, (_, i) => Array.from({ length: 3 }, (_, j) => {
    let s = 0;
    for (let k = 0; k < 4; k++) s += a[i * 4 + k] * a[j * 4 + k];
    return s;
  }));
  const det =
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  const inv = [
    [m[1][1] * m[2][2] - m[1][2] * m[2][1], m[0][2] * m[2][1] - m[0][1] * m[2][2], m[0][1] * m[1][2] - m[0][2] * m[1][1]],
    [m[1][2] * m[2][0] - m[1][0] * m[2][2], m[0][0] * m[2][2] - m[0][2] * m[2][0], m[0][2] * m[1][0] - m[0][0] * m[1][2]],
    [m[1][0] * m[2][1] - m[1][1] * m[2][0], m[0][1] * m[2][0] - m[0][0] * m[2][1], m[0][0] * m[1][1] - m[0][1] * m[1][0]],
  ].map((row) => row.map((v) => v / det));
  const out = new Float32Array(12);
  for (let k = 0; k < 4; k++) {
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let i = 0; i < 3; i++) s += a[i * 4 + k] * inv[i][j];
      out[k * 3 + j] = s;
    }
  }
  return out;
}

function vaeDecoder(mix: Float32Array, ft: ElemType): Uint8Array {
  const g = new GraphBuilder('vae_decoder');
  const z = floatIn(g, g.input('latent_sample', ft, ['batch', 4, 'latent_height', 'latent_width']), ft);
  g.output('sample', ft, ['batch', 3, 'height', 'width']);
  // Latent colours, smoothly upsampled 8× (like a VAE's decoder, minus the detail).
  const rgb = g.op('Conv', [z, g.init('dec_mix', mix, [3, 4, 1, 1])], { kernel_shape: [1, 1] });
  const up = g.op('Resize', [rgb, '', g.init('dec_scales', Float32Array.of(1, 1, 8, 8), [4])], { mode: 'linear' });
  floatOut(g, g.op('Tanh', [up]), 'sample', ft);
  return g.encode();
}

function vaeEncoder(mix: Float32Array, ft: ElemType, output: 'latent_sample' | 'latent_parameters'): Uint8Array {
  const g = new GraphBuilder('vae_encoder');
  const x = floatIn(g, g.input('sample', ft, ['batch', 3, 'height', 'width']), ft);
  const outC = output === 'latent_parameters' ? 8 : 4;
  g.output(output, ft, ['batch', outC, 'latent_height', 'latent_width']);
  // Undo the decoder: average each 8×8 patch, invert tanh, apply the mix's pseudo-inverse.
  const avg = g.op('AveragePool', [x], { kernel_shape: [8, 8], strides: [8, 8] });
  const clipped = g.op('Clip', [avg, g.scalar('lo', -0.995), g.scalar('hi', 0.995)]);
  const half = g.scalar('half', 0.5);
  const one = g.scalar('one', 1);
  const atanh = g.op('Mul', [half, g.op('Log', [g.op('Div', [g.op('Add', [one, clipped]), g.op('Sub', [one, clipped])])])]);
  const weights = new Float32Array(outC * 3);
  weights.set(pseudoInverse3x4(mix));
  // Log-variance channels (optimum's latent_parameters) near -12: almost deterministic.
  const bias = new Float32Array(outC).fill(0);
  if (outC === 8) bias.fill(-12, 4);
  const z = g.op('Conv', [atanh, g.init('enc_w', weights, [outC, 3, 1, 1]), g.init('enc_b', bias, [outC])], { kernel_shape: [1, 1] });
  floatOut(g, z, output, ft);
  return g.encode();
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
}

/** Writes the model folder. Refuses a non-empty folder that is not already a model. */
export async function createTinyModel(dir: string, options: TinyModelOptions = {}): Promise<void> {
  if (existsSync(dir) && readdirSync(dir).length > 0 && !existsSync(join(dir, 'model_index.json'))) {
    throw new Error(`${dir} is not empty and is not a model folder; choose an empty or new folder.`);
  }
  const hidden = options.hidden ?? 32;
  const channels = options.channels ?? 32;
  if (channels % 2 !== 0) throw new Error('channels must be even');
  const ft: ElemType = options.float16 ? 'float16' : 'float32';
  const w = new Weights(options.seed ?? 1234);

  for (const sub of ['scheduler', 'tokenizer', 'text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  const tok = await writeClipTokenizerFiles(join(dir, 'tokenizer'), { padToken: options.padToken });

  await writeJson(join(dir, 'model_index.json'), {
    _class_name: 'ORTStableDiffusionPipeline',
    _diffusers_version: '0.30.0',
    requires_safety_checker: false,
    scheduler: ['diffusers', 'PNDMScheduler'],
    text_encoder: ['diffusers', 'OnnxRuntimeModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'OnnxRuntimeModel'],
    vae_decoder: ['diffusers', 'OnnxRuntimeModel'],
    vae_encoder: ['diffusers', 'OnnxRuntimeModel'],
  });
  // SD 1.5's scheduler config.
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), {
    _class_name: 'PNDMScheduler',
    _diffusers_version: '0.30.0',
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    clip_sample: false,
    num_train_timesteps: 1000,
    prediction_type: options.predictionType ?? 'epsilon',
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    timestep_spacing: 'leading',
    trained_betas: null,
  });
  await writeJson(join(dir, 'text_encoder', 'config.json'), {
    architectures: ['CLIPTextModel'],
    hidden_size: hidden,
    max_position_embeddings: MAX_POSITIONS,
    vocab_size: tok.vocabSize,
    model_type: 'clip_text_model',
  });
  await writeJson(join(dir, 'unet', 'config.json'), {
    _class_name: 'UNet2DConditionModel',
    in_channels: 4,
    out_channels: 4,
    sample_size: 32,
    cross_attention_dim: hidden,
    block_out_channels: [channels],
  });
  const vaeConfig = { _class_name: 'AutoencoderKL', latent_channels: 4, scaling_factor: 0.18215, sample_size: 256 };
  await writeJson(join(dir, 'vae_decoder', 'config.json'), vaeConfig);
  await writeJson(join(dir, 'vae_encoder', 'config.json'), vaeConfig);

  await writeFile(join(dir, 'text_encoder', 'model.onnx'), textEncoder(w, tok.vocabSize, hidden, ft));
  const external: ExternalDataSink | undefined = options.externalData ? { location: 'model.onnx_data', chunks: [], size: 0 } : undefined;
  await writeFile(join(dir, 'unet', 'model.onnx'), unet(w, hidden, channels, ft, options.timestep ?? 'int64', external));
  if (external) await writeFile(join(dir, 'unet', 'model.onnx_data'), Buffer.concat(external.chunks));
  const mix = decoderMix(w);
  await writeFile(join(dir, 'vae_decoder', 'model.onnx'), vaeDecoder(mix, ft));
  await writeFile(join(dir, 'vae_encoder', 'model.onnx'), vaeEncoder(mix, ft, options.vaeEncoderOutput ?? 'latent_sample'));
}

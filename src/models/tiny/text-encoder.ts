// The tiny text encoder: CLIPTextModel's structure in miniature, with optimum's signature
// (input_ids int32 [batch_size, sequence_length] → last_hidden_state, pooler_output).
// One pre-norm transformer layer (causal single-head attention + quick_gelu MLP) and the
// final LayerNorm; the causal attention lets padding positions carry the prompt, as in CLIP.
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

export const MAX_POSITIONS = 77;

export interface TextEncoderSpec {
  vocabSize: number;
  hidden: number;
  float: 'float32' | 'float16';
  seed: number;
}

export function buildTextEncoder(spec: TextEncoderSpec): EncodedModel {
  const { vocabSize, hidden: d, float } = spec;
  const g = new GraphBuilder({ name: 'text_encoder', floatStorage: float });
  const w = new WeightStream(spec.seed, 'text_encoder');
  const L = new Layers(g, w);

  const ids = g.input('input_ids', 'int32', ['batch_size', 'sequence_length']);
  const tokens = g.floats('token_embedding', w.normals(vocabSize * d, 1), [vocabSize, d]);
  const positions = g.floats('position_embedding', w.normals(MAX_POSITIONS * d, 0.5), [MAX_POSITIONS, d]);

  // Position embeddings and the causal mask cut to the actual sequence length.
  const zero = g.int64s('zero', [0]);
  const seqLen = g.op('Slice', [g.op('Shape', [ids]), g.int64s('one', [1]), g.int64s('two', [2])]);
  const pos = g.op('Slice', [positions, zero, seqLen, zero]);
  const causal = new Float32Array(MAX_POSITIONS * MAX_POSITIONS);
  for (let i = 0; i < MAX_POSITIONS; i++) for (let j = i + 1; j < MAX_POSITIONS; j++) causal[i * MAX_POSITIONS + j] = -1e4;
  const mask = g.op('Slice', [g.floats('causal_mask', causal, [MAX_POSITIONS, MAX_POSITIONS]), g.int64s('mask_starts', [0, 0]), g.op('Concat', [seqLen, seqLen], { axis: 0 }), g.int64s('mask_axes', [0, 1])]);

  let x = g.op('Add', [g.op('Gather', [tokens, ids], { axis: 0 }), pos]);

  const n1 = L.layerNorm(x, d, 'ln_attn');
  const q = L.linear(n1, d, d, { name: 'q_proj', bias: true });
  const k = L.linear(n1, d, d, { name: 'k_proj', bias: true });
  const v = L.linear(n1, d, d, { name: 'v_proj', bias: true });
  x = g.op('Add', [x, L.linear(L.attention(q, k, v, d, mask), d, d, { name: 'out_proj', bias: true })]);

  const n2 = L.layerNorm(x, d, 'ln_mlp');
  const mlp = L.linear(L.quickGelu(L.linear(n2, d, 4 * d, { name: 'fc1', bias: true })), 4 * d, d, { name: 'fc2', bias: true });
  x = L.layerNorm(g.op('Add', [x, mlp]), d, 'final_layer_norm');
  g.floatOutput(x, 'last_hidden_state', float, ['batch_size', 'sequence_length', d]);

  // CLIP pools the state at the first end-of-text token, which has the highest id.
  const eos = g.op('ArgMax', [ids], { axis: 1, keepdims: 1 });
  g.floatOutput(g.op('GatherND', [x, eos], { batch_dims: 1 }), 'pooler_output', float, ['batch_size', d]);
  return g.encode();
}

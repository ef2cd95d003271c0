// The tiny text encoder: CLIPTextModel's structure in miniature, with optimum's signature
// (input_ids int32 [batch_size, sequence_length] → last_hidden_state, pooler_output).
// Pre-norm transformer layers (causal single-head attention + quick_gelu MLP) and the final
// LayerNorm; the causal attention lets padding positions carry the prompt, as in CLIP.
// SDXL exports add hidden_states.0..N (the embeddings, then each layer's output, as
// transformers' output_hidden_states gives them), and text_encoder_2 is a
// CLIPTextModelWithProjection: text_embeds (the pooled state through a bias-free projection)
// instead of pooler_output.
// The full-size benchmark encoders (CLIP ViT-L, OpenCLIP ViT-H and bigG) are this graph with
// their real widths, depths, head counts and activation, and streamed weights.
import { GraphBuilder, type EncodedModel, type ExternalDataOptions } from '../onnx/builder.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

export const MAX_POSITIONS = 77;

export interface TextEncoderSpec {
  vocabSize: number;
  hidden: number;
  float: 'float32' | 'float16';
  seed: number;
  /** Transformer layers (default 1). */
  layers?: number;
  /** Adds the hidden_states.0..layers outputs, as optimum exports SDXL's encoders. */
  hiddenStates?: boolean;
  /** CLIPTextModelWithProjection: a text_embeds output of this width replaces pooler_output. */
  projection?: number;
  /** Weight stream and graph name (default 'text_encoder'). */
  part?: string;
  /** Attention heads (default 1). */
  heads?: number;
  /** MLP width (default 4 × hidden). */
  intermediate?: number;
  /** CLIP's quick_gelu (default) or OpenCLIP's exact gelu. */
  activation?: 'quick_gelu' | 'gelu';
  /** Weights in a side file (full-size models). */
  externalData?: ExternalDataOptions;
  /** Weights drawn chunk by chunk into the side file (Layers' streamed mode). */
  streamed?: boolean;
  /** Compute in float16 too (full-size fp16 models, as real fp16 exports do); default float32. */
  computeFloat16?: boolean;
}

/** A built graph and its count of learned parameters. */
export type BuiltGraph = EncodedModel & { parameters: number };

export function buildTextEncoder(spec: TextEncoderSpec): BuiltGraph {
  const { vocabSize, hidden: d, float } = spec;
  const part = spec.part ?? 'text_encoder';
  const heads = spec.heads ?? 1;
  const inner = spec.intermediate ?? 4 * d;
  if (d % heads !== 0) throw new Error(`text encoder width ${d} is not a multiple of ${heads} heads`);
  const g = new GraphBuilder({ name: part, floatStorage: float, compute: spec.computeFloat16 ? 'float16' : 'float32', externalData: spec.externalData });
  const w = new WeightStream(spec.seed, part);
  const L = new Layers(g, w, { streamed: spec.streamed });
  const act = (x: string) => (spec.activation === 'gelu' ? L.gelu(x) : L.quickGelu(x));

  const ids = g.input('input_ids', 'int32', ['batch_size', 'sequence_length']);
  const tokens = L.param('token_embedding', [vocabSize, d], 1);
  const positions = L.param('position_embedding', [MAX_POSITIONS, d], 0.5);

  // Position embeddings and the causal mask cut to the actual sequence length.
  const zero = g.int64s('zero', [0]);
  const seqLen = g.op('Slice', [g.op('Shape', [ids]), g.int64s('one', [1]), g.int64s('two', [2])]);
  const pos = g.op('Slice', [positions, zero, seqLen, zero]);
  const causal = new Float32Array(MAX_POSITIONS * MAX_POSITIONS);
  for (let i = 0; i < MAX_POSITIONS; i++) for (let j = i + 1; j < MAX_POSITIONS; j++) causal[i * MAX_POSITIONS + j] = -1e4;
  const mask = g.op('Slice', [
    g.floats('causal_mask', causal, [MAX_POSITIONS, MAX_POSITIONS]),
    g.int64s('mask_starts', [0, 0]),
    g.op('Concat', [seqLen, seqLen], { axis: 0 }),
    g.int64s('mask_axes', [0, 1]),
  ]);

  let x = g.op('Add', [g.op('Gather', [tokens, ids], { axis: 0 }), pos]);
  const states = [x];
  for (let layer = 0; layer < (spec.layers ?? 1); layer++) {
    // Layer 0 keeps the original weight names, so single-layer encoders stay byte-identical.
    const n = (name: string) => (layer === 0 ? name : `${name}_${layer}`);
    const n1 = L.layerNorm(x, d, n('ln_attn'));
    const q = L.linear(n1, d, d, { name: n('q_proj'), bias: true });
    const k = L.linear(n1, d, d, { name: n('k_proj'), bias: true });
    const v = L.linear(n1, d, d, { name: n('v_proj'), bias: true });
    x = g.op('Add', [x, L.linear(L.multiHeadAttention(q, k, v, heads, d / heads, mask), d, d, { name: n('out_proj'), bias: true })]);

    const n2 = L.layerNorm(x, d, n('ln_mlp'));
    const mlp = L.linear(act(L.linear(n2, d, inner, { name: n('fc1'), bias: true })), inner, d, { name: n('fc2'), bias: true });
    x = g.op('Add', [x, mlp]);
    states.push(x);
  }
  const last = L.layerNorm(x, d, 'final_layer_norm');
  // Outputs in the order optimum writes them (CLIPTextModel: last_hidden_state first).
  const projection = spec.projection;
  if (projection === undefined) g.floatOutput(last, 'last_hidden_state', float, ['batch_size', 'sequence_length', d]);

  // CLIP pools the state at the first end-of-text token, which has the highest id.
  const eos = g.op('ArgMax', [ids], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [last, eos], { batch_dims: 1 });
  if (projection !== undefined) {
    g.floatOutput(L.linear(pooled, d, projection, { name: 'text_projection' }), 'text_embeds', float, ['batch_size', projection]);
    g.floatOutput(last, 'last_hidden_state', float, ['batch_size', 'sequence_length', d]);
  } else {
    g.floatOutput(pooled, 'pooler_output', float, ['batch_size', d]);
  }
  if (spec.hiddenStates) {
    states.forEach((state, i) => g.floatOutput(state, `hidden_states.${i}`, float, ['batch_size', 'sequence_length', d]));
  }
  return { ...g.encode(), parameters: L.parameters };
}

// SD3's third text encoder in miniature: a T5 encoder with optimum's signature
// (T5EncoderOnnxConfig: input_ids int64 [batch_size, sequence_length] → last_hidden_state
// [batch_size, sequence_length, d_model]), and tokenizer_3/ as Hugging Face ships T5's fast
// tokenizer: tokenizer.json with a Unigram model (vocab [[piece, score] …], unk_id 2), a
// Metaspace pre-tokenizer and a TemplateProcessing post-processor appending </s>.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GraphBuilder, type EncodedModel } from '../onnx/builder.js';
import { FALLBACK_WORDS } from '../tokenizer-files.js';
import { Layers } from './layers.js';
import { WeightStream } from './weights.js';

/** T5's special tokens, with their ids in every T5 vocabulary. */
export const T5_PAD = '<pad>';
export const T5_EOS = '</s>';
export const T5_UNK = '<unk>';
const METASPACE = '\u2581';
/** Positions the tiny encoder's position table covers (T5's tokenizer model_max_length). */
const MAX_POSITIONS = 512;

/**
 * The tiny Unigram vocabulary: the specials, "▁", each fallback word as one "▁word" piece, and
 * every letter, digit and common punctuation mark with and without "▁", so any plain prompt
 * segments (whole words where they are known, characters elsewhere). Scores are log
 * probabilities: a known word beats spelling it out.
 */
export function t5Vocab(): [string, number][] {
  const vocab: [string, number][] = [
    [T5_PAD, 0],
    [T5_EOS, 0],
    [T5_UNK, 0],
    [METASPACE, -2.5],
  ];
  for (const w of FALLBACK_WORDS) vocab.push([`${METASPACE}${w}`, -6 - w.length / 10]);
  const chars = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', ...',.!?-:;\'"()'];
  chars.forEach((c, i) => {
    vocab.push([`${METASPACE}${c}`, -9 - i / 1000]);
    vocab.push([c, -10 - i / 1000]);
  });
  return vocab;
}

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** tokenizer.json as transformers' T5TokenizerFast saves it (less the Precompiled normalizer's charsmap). */
export function t5TokenizerJson(vocab: [string, number][]): Record<string, unknown> {
  const metaspace = { type: 'Metaspace', replacement: METASPACE, prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, T5_PAD), special(1, T5_EOS), special(2, T5_UNK)],
    normalizer: null,
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: T5_EOS, type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: T5_EOS, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: T5_EOS, type_id: 0 } },
      ],
      special_tokens: { [T5_EOS]: { id: T5_EOS, ids: [1], tokens: [T5_EOS] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
  };
}

/** Writes tokenizer_3/: tokenizer.json, tokenizer_config.json, special_tokens_map.json. Returns the vocabulary size. */
export async function writeT5TokenizerFiles(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const vocab = t5Vocab();
  await writeFile(join(dir, 'tokenizer.json'), `${JSON.stringify(t5TokenizerJson(vocab), null, 2)}\n`);
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    `${JSON.stringify(
      {
        add_prefix_space: true,
        clean_up_tokenization_spaces: true,
        eos_token: T5_EOS,
        extra_ids: 0,
        legacy: true,
        model_max_length: MAX_POSITIONS,
        pad_token: T5_PAD,
        tokenizer_class: 'T5Tokenizer',
        unk_token: T5_UNK,
      },
      null,
      2,
    )}\n`,
  );
  await writeFile(join(dir, 'special_tokens_map.json'), `${JSON.stringify({ eos_token: T5_EOS, pad_token: T5_PAD, unk_token: T5_UNK }, null, 2)}\n`);
  return vocab.length;
}

/** transformers' T5EncoderModel config (google/t5-v1_1-xxl's keys) at the tiny size. */
export function t5EncoderConfig(dModel: number, vocabSize: number): Record<string, unknown> {
  return {
    architectures: ['T5EncoderModel'],
    d_ff: 2 * dModel,
    d_kv: dModel,
    d_model: dModel,
    dense_act_fn: 'gelu_new',
    dropout_rate: 0.1,
    eos_token_id: 1,
    feed_forward_proj: 'gated-gelu',
    is_encoder_decoder: true,
    is_gated_act: true,
    layer_norm_epsilon: 1e-6,
    model_type: 't5',
    num_heads: 1,
    num_layers: 1,
    pad_token_id: 0,
    relative_attention_max_distance: 128,
    relative_attention_num_buckets: 32,
    vocab_size: vocabSize,
  };
}

/**
 * One bidirectional transformer layer over token + position embeddings and a final norm: what
 * the pipeline needs of T5 (a [sequence, d_model] state per prompt), not T5's relative biases.
 */
export function buildT5Encoder(spec: { vocabSize: number; dModel: number; float: 'float32' | 'float16'; seed: number }): EncodedModel {
  const { vocabSize, dModel: d, float } = spec;
  const g = new GraphBuilder({ name: 'text_encoder_3', floatStorage: float });
  const w = new WeightStream(spec.seed, 'text_encoder_3');
  const L = new Layers(g, w);
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const tokens = L.param('shared', [vocabSize, d], 1);
  const positions = L.param('positions', [MAX_POSITIONS, d], 0.5);
  const seqLen = g.op('Slice', [g.op('Shape', [ids]), g.int64s('one', [1]), g.int64s('two', [2])]);
  const pos = g.op('Slice', [positions, g.int64s('zero', [0]), seqLen, g.int64s('zero_axis', [0])]);
  let x = g.op('Add', [g.op('Gather', [tokens, ids], { axis: 0 }), pos]);
  const n1 = L.layerNorm(x, d, 'ln_attn', 1e-6);
  const q = L.linear(n1, d, d, { name: 'q' });
  const k = L.linear(n1, d, d, { name: 'k' });
  const v = L.linear(n1, d, d, { name: 'v' });
  x = g.op('Add', [x, L.linear(L.attention(q, k, v, d), d, d, { name: 'o' })]);
  const n2 = L.layerNorm(x, d, 'ln_ff', 1e-6);
  x = g.op('Add', [x, L.linear(L.gelu(L.linear(n2, d, 2 * d, { name: 'wi' })), 2 * d, d, { name: 'wo' })]);
  g.floatOutput(L.layerNorm(x, d, 'final_layer_norm', 1e-6), 'last_hidden_state', float, ['batch_size', 'sequence_length', d]);
  return g.encode();
}

// The T5 tokenizer of SD3's third text encoder, read from `tokenizer_3/tokenizer.json` (an HF
// tokenizers file with a Unigram model), giving the ids transformers' T5TokenizerFast gives as
// diffusers calls it: padding="max_length", truncation=True, add_special_tokens=True.
// The steps are HF tokenizers' own, in its order:
//   1. added tokens (</s>, <extra_id_N>, …) are cut out of the raw text and map to their ids;
//   2. each remaining piece is normalized (Precompiled charsmap, Strip, Replace, …), and added
//      tokens marked `normalized` are cut out of the result;
//   3. the pre-tokenizer splits words (Metaspace: spaces become "▁", prefixed, split before "▁");
//   4. the Unigram model segments each word; the post-processor template appends </s>.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ModelError } from '../errors.js';
import { PrecompiledCharsmap } from './precompiled-charsmap.js';
import { UnigramModel } from './unigram.js';

// ---------------------------------------------------------------------------------------------
// tokenizer.json, the parts a Unigram tokenizer uses

type NormalizerSpec =
  | { type: 'Sequence'; normalizers: NormalizerSpec[] }
  | { type: 'Precompiled'; precompiled_charsmap: string | null }
  | { type: 'Strip'; strip_left: boolean; strip_right: boolean }
  | { type: 'Replace'; pattern: { String: string } | { Regex: string }; content: string }
  | { type: 'Prepend'; prepend: string }
  | { type: 'NFC' | 'NFD' | 'NFKC' | 'NFKD' | 'Lowercase' };

const normalizerSchema: z.ZodType<NormalizerSpec> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('Sequence'), normalizers: z.array(normalizerSchema) }),
    z.object({ type: z.literal('Precompiled'), precompiled_charsmap: z.string().nullable() }),
    z.object({ type: z.literal('Strip'), strip_left: z.boolean().default(false), strip_right: z.boolean().default(false) }),
    z.object({ type: z.literal('Replace'), pattern: z.union([z.object({ String: z.string() }), z.object({ Regex: z.string() })]), content: z.string() }),
    z.object({ type: z.literal('Prepend'), prepend: z.string() }),
    z.object({ type: z.enum(['NFC', 'NFD', 'NFKC', 'NFKD', 'Lowercase']) }),
  ]),
);

type PreTokenizerSpec =
  | { type: 'Sequence'; pretokenizers: PreTokenizerSpec[] }
  | { type: 'WhitespaceSplit' }
  | { type: 'Metaspace'; replacement: string; prepend_scheme?: 'always' | 'first' | 'never'; add_prefix_space?: boolean; split: boolean };

const preTokenizerSchema: z.ZodType<PreTokenizerSpec> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('Sequence'), pretokenizers: z.array(preTokenizerSchema) }),
    z.object({ type: z.literal('WhitespaceSplit') }),
    z.object({
      type: z.literal('Metaspace'),
      replacement: z.string().refine((s) => [...s].length === 1, 'replacement must be one character'),
      prepend_scheme: z.enum(['always', 'first', 'never']).optional(),
      // Files written before prepend_scheme existed say add_prefix_space instead.
      add_prefix_space: z.boolean().optional(),
      split: z.boolean().default(true),
    }),
  ]),
);

const templatePieceSchema = z.union([z.object({ SpecialToken: z.object({ id: z.string() }) }), z.object({ Sequence: z.object({ id: z.enum(['A', 'B']) }) })]);

const postProcessorSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('TemplateProcessing'),
    single: z.array(templatePieceSchema),
    special_tokens: z.record(z.string(), z.object({ ids: z.array(z.number().int().min(0)) })),
  }),
]);

const addedTokenSchema = z
  .object({
    id: z.number().int().min(0),
    content: z.string().min(1),
    single_word: z.boolean().default(false),
    lstrip: z.boolean().default(false),
    rstrip: z.boolean().default(false),
    normalized: z.boolean().optional(),
    special: z.boolean().default(false),
  })
  // HF's default: special tokens match the raw text, others the normalized text.
  .transform((t) => ({ ...t, normalized: t.normalized ?? !t.special }));
type AddedToken = z.output<typeof addedTokenSchema>;

const unigramModelSchema = z.object({
  type: z.literal('Unigram'),
  unk_id: z.number().int().min(0).nullable(),
  vocab: z.array(z.tuple([z.string(), z.number()])).min(1),
  byte_fallback: z.boolean().default(false),
});

const tokenizerJsonSchema = z.object({
  added_tokens: z.array(addedTokenSchema).default([]),
  normalizer: normalizerSchema.nullable().default(null),
  pre_tokenizer: preTokenizerSchema.nullable().default(null),
  post_processor: postProcessorSchema.nullable().default(null),
  padding: z
    .object({ pad_id: z.number().int().min(0) })
    .nullable()
    .default(null),
  model: z.looseObject({ type: z.string().optional() }),
});

// ---------------------------------------------------------------------------------------------
// Pipeline stages

/** What Rust's char::is_whitespace accepts (JS's \s adds U+FEFF and lacks U+0085). */
const RUST_WHITESPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const LEADING_WHITESPACE = new RegExp(`^${RUST_WHITESPACE.source}+`, 'u');
const TRAILING_WHITESPACE = new RegExp(`${RUST_WHITESPACE.source}+$`, 'u');
const WHITESPACE_RUNS = new RegExp(`${RUST_WHITESPACE.source}+`, 'u');
const WORD_CHARACTER = /[\p{L}\p{N}_]/u;

type Normalize = (text: string) => string;

function buildNormalizer(spec: NormalizerSpec | null): Normalize {
  if (!spec) return (t) => t;
  switch (spec.type) {
    case 'Sequence': {
      const steps = spec.normalizers.map(buildNormalizer);
      return (t) => steps.reduce((acc, step) => step(acc), t);
    }
    case 'Precompiled': {
      if (!spec.precompiled_charsmap) return (t) => t;
      const map = PrecompiledCharsmap.fromBase64(spec.precompiled_charsmap);
      return (t) => map.normalize(t);
    }
    case 'Strip':
      return (t) => {
        let out = spec.strip_left ? t.replace(LEADING_WHITESPACE, '') : t;
        if (spec.strip_right) out = out.replace(TRAILING_WHITESPACE, '');
        return out;
      };
    case 'Replace': {
      if ('String' in spec.pattern) {
        const literal = spec.pattern.String;
        return (t) => (literal ? t.split(literal).join(spec.content) : t);
      }
      const regex = new RegExp(spec.pattern.Regex, 'gu');
      return (t) => t.replace(regex, () => spec.content);
    }
    case 'Prepend':
      return (t) => (t ? spec.prepend + t : t);
    case 'Lowercase':
      return (t) => t.toLowerCase();
    default: {
      const form = spec.type;
      return (t) => t.normalize(form);
    }
  }
}

/** A piece of text on its way to the model; `atStart`: it begins at offset 0 of the input. */
interface PreToken {
  text: string;
  atStart: boolean;
}

type PreTokenize = (pieces: PreToken[]) => PreToken[];

function buildPreTokenizer(spec: PreTokenizerSpec | null): PreTokenize {
  if (!spec) return (pieces) => pieces;
  switch (spec.type) {
    case 'Sequence': {
      const steps = spec.pretokenizers.map(buildPreTokenizer);
      return (pieces) => steps.reduce((acc, step) => step(acc), pieces);
    }
    case 'WhitespaceSplit':
      return (pieces) =>
        pieces.flatMap(({ text, atStart }) => {
          const words: PreToken[] = [];
          let offset = 0;
          for (const word of text.split(WHITESPACE_RUNS)) {
            const at = text.indexOf(word, offset);
            if (word) words.push({ text: word, atStart: atStart && at === 0 });
            offset = at + word.length;
          }
          return words;
        });
    case 'Metaspace': {
      const replacement = spec.replacement;
      const scheme = spec.prepend_scheme ?? (spec.add_prefix_space === false ? 'never' : 'always');
      return (pieces) =>
        pieces.flatMap(({ text, atStart }) => {
          let t = text.split(' ').join(replacement);
          const prepend = scheme === 'always' || (scheme === 'first' && atStart);
          if (t && prepend && !t.startsWith(replacement)) t = replacement + t;
          if (!spec.split) return t ? [{ text: t, atStart }] : [];
          // Split before every replacement character, which starts the next word.
          const words: PreToken[] = [];
          let start = 0;
          for (let i = t.indexOf(replacement, 1); i > 0; i = t.indexOf(replacement, i + 1)) {
            if (i > start) words.push({ text: t.slice(start, i), atStart: atStart && start === 0 });
            start = i;
          }
          if (start < t.length) words.push({ text: t.slice(start), atStart: atStart && start === 0 });
          return words;
        });
    }
  }
}

/**
 * Cuts `text` at the added tokens (leftmost match, the longest where several start there, as
 * HF's AddedVocabulary does), honouring single_word, lstrip and rstrip.
 */
function splitOnAddedTokens(piece: PreToken, tokens: readonly AddedToken[]): Array<PreToken | AddedToken> {
  if (tokens.length === 0) return piece.text ? [piece] : [];
  const text = piece.text;
  const out: Array<PreToken | AddedToken> = [];
  let gapStart = 0;
  let i = 0;
  while (i < text.length) {
    const match = tokens.find((t) => text.startsWith(t.content, i));
    if (!match) {
      i++;
      continue;
    }
    let start = i;
    let stop = i + match.content.length;
    if (match.single_word) {
      const before = start > 0 && WORD_CHARACTER.test(lastChar(text.slice(0, start)));
      const after = stop < text.length && WORD_CHARACTER.test(String.fromCodePoint(text.codePointAt(stop) ?? 0));
      if (before || after) {
        i = stop;
        continue;
      }
    }
    if (match.lstrip) start = Math.max(gapStart, text.slice(0, start).replace(TRAILING_WHITESPACE, '').length);
    if (match.rstrip) stop += text.length - stop - text.slice(stop).replace(LEADING_WHITESPACE, '').length;
    if (start > gapStart) out.push({ text: text.slice(gapStart, start), atStart: piece.atStart && gapStart === 0 });
    out.push(match);
    gapStart = stop;
    i = stop;
  }
  if (gapStart < text.length) out.push({ text: text.slice(gapStart), atStart: piece.atStart && gapStart === 0 });
  return out;
}

function lastChar(s: string): string {
  const chars = Array.from(s.slice(-2));
  return chars[chars.length - 1] ?? '';
}

function isAddedToken(p: PreToken | AddedToken): p is AddedToken {
  return 'id' in p;
}

// ---------------------------------------------------------------------------------------------

export interface T5Encoding {
  /** Exactly maxLength ids: the prompt's, then </s>, then padding. */
  ids: Int32Array;
  /** Ids before the padding (</s> included): T5's attention mask is 1 for these. */
  length: number;
  /** Prompt tokens cut off to fit maxLength. */
  truncatedTokens: number;
}

export class T5Tokenizer {
  private constructor(
    private readonly model: UnigramModel,
    private readonly normalize: Normalize,
    private readonly preTokenize: PreTokenize,
    /** Longest first, so the longest added token wins where two start at one place. */
    private readonly rawAddedTokens: readonly AddedToken[],
    private readonly normalizedAddedTokens: readonly AddedToken[],
    private readonly prefixIds: readonly number[],
    private readonly suffixIds: readonly number[],
    readonly padTokenId: number,
    readonly unkTokenId: number,
  ) {}

  /** From a parsed tokenizer.json; `source` names the file in error messages. */
  static fromJson(json: unknown, source = 'tokenizer.json'): T5Tokenizer {
    const modelType = (json as { model?: { type?: unknown } } | null)?.model?.type;
    if (modelType !== undefined && modelType !== 'Unigram') {
      throw new ModelError(`${source} holds a ${String(modelType)} tokenizer, not T5's Unigram model: is this the T5 tokenizer folder (tokenizer_3)?`);
    }
    const parsed = tokenizerJsonSchema.safeParse(json);
    if (!parsed.success) throw new ModelError(`${source} is not a tokenizer.json this T5 tokenizer reads:\n${z.prettifyError(parsed.error)}`);
    const file = parsed.data;
    const modelParsed = unigramModelSchema.safeParse(file.model);
    if (!modelParsed.success) throw new ModelError(`${source}: its model is not a Unigram model:\n${z.prettifyError(modelParsed.error)}`);
    const m = modelParsed.data;
    if (m.unk_id === null) throw new ModelError(`${source}: the Unigram model has no unk_id (T5's is 2)`);

    let normalize: Normalize;
    try {
      normalize = buildNormalizer(file.normalizer);
    } catch (err) {
      throw new ModelError(`${source}: its normalizer cannot be read: ${(err as Error).message}`);
    }
    const model = new UnigramModel(m.vocab, { unkId: m.unk_id, byteFallback: m.byte_fallback });
    const byLength = (a: AddedToken, b: AddedToken) => b.content.length - a.content.length;
    const added = [...file.added_tokens].sort(byLength);

    const prefixIds: number[] = [];
    const suffixIds: number[] = [];
    const post = file.post_processor;
    if (post) {
      let seenSequence = false;
      for (const piece of post.single) {
        if ('Sequence' in piece) {
          seenSequence = true;
          continue;
        }
        const special = post.special_tokens[piece.SpecialToken.id];
        if (!special) throw new ModelError(`${source}: the post_processor template uses ${piece.SpecialToken.id}, which its special_tokens lack`);
        (seenSequence ? suffixIds : prefixIds).push(...special.ids);
      }
    }
    const padId = file.padding?.pad_id ?? added.find((t) => t.content === '<pad>')?.id ?? model.idOf('<pad>') ?? 0;
    return new T5Tokenizer(
      model,
      normalize,
      buildPreTokenizer(file.pre_tokenizer),
      added.filter((t) => !t.normalized),
      added.filter((t) => t.normalized),
      prefixIds,
      suffixIds,
      padId,
      m.unk_id,
    );
  }

  /** The prompt's ids, without </s>, padding or truncation. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const raw of splitOnAddedTokens({ text, atStart: true }, this.rawAddedTokens)) {
      if (isAddedToken(raw)) {
        ids.push(raw.id);
        continue;
      }
      const normalized = { text: this.normalize(raw.text), atStart: raw.atStart };
      for (const piece of splitOnAddedTokens(normalized, this.normalizedAddedTokens)) {
        if (isAddedToken(piece)) {
          ids.push(piece.id);
          continue;
        }
        for (const word of this.preTokenize([piece])) ids.push(...this.model.encode(word.text));
      }
    }
    return ids;
  }

  /** Truncated so that </s> stays the last real token, then padded to exactly maxLength. */
  encodeWithLength(text: string, maxLength: number): T5Encoding {
    const specials = this.prefixIds.length + this.suffixIds.length;
    if (!Number.isInteger(maxLength) || maxLength < Math.max(1, specials)) {
      throw new RangeError(`maxLength must be an integer of at least ${Math.max(1, specials)}, got ${maxLength}`);
    }
    const tokens = this.tokenize(text);
    const room = maxLength - specials;
    const kept = [...this.prefixIds, ...tokens.slice(0, room), ...this.suffixIds];
    const ids = new Int32Array(maxLength).fill(this.padTokenId);
    ids.set(kept);
    return { ids, length: kept.length, truncatedTokens: Math.max(0, tokens.length - room) };
  }

  encode(text: string, maxLength: number): Int32Array {
    return this.encodeWithLength(text, maxLength).ids;
  }

  get vocabSize(): number {
    return this.model.size;
  }
}

/** Loads `dir/tokenizer.json` (an SD3 export's tokenizer_3). */
export async function loadT5Tokenizer(dir: string): Promise<T5Tokenizer> {
  const path = join(dir, 'tokenizer.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelError(`T5 tokenizer file ${path} is missing: SD3 exports keep it in tokenizer_3/tokenizer.json`);
    }
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  return T5Tokenizer.fromJson(json, path);
}

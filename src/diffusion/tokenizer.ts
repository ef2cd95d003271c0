// CLIP's byte-level BPE tokenizer, read from a model folder's own tokenizer files, giving the
// ids transformers' (slow) CLIPTokenizer gives as diffusers calls it: padding="max_length",
// truncation=True. Without ftfy installed (the usual case) transformers cleans text with a
// BasicTokenizer: drop control characters, turn whitespace into spaces, space out CJK
// ideographs, NFC, split on whitespace, lowercase. HTML entities are unescaped first, as
// with ftfy and OpenAI's original tokenizer (prompts pasted from web pages carry them);
// `unescapeHtml: false` gives transformers' plain non-ftfy result. Before cleaning,
// the text is cut at the special tokens (BOS, EOS, UNK, PAD and any added tokens), which map
// straight to their ids: for SD 2.x, whose pad token is "!", every "!" becomes id 0.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeHTML } from 'entities';
import { z } from 'zod';

/**
 * GPT-2/CLIP's reversible byte → printable-unicode table, as [byte, char] pairs in the
 * table's own order (printable bytes first), which is also the vocabulary's order.
 */
export function byteUnicodePairs(): Array<[number, string]> {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const printable = new Set(bs);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.has(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return bs.map((b, i) => [b, String.fromCodePoint(cs[i])]);
}

const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  for (const [b, c] of byteUnicodePairs()) table[b] = c;
  return table;
})();

/** CLIP's pre-tokenizer pattern, case-insensitive as transformers compiles it. */
const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** BasicTokenizer._is_chinese_char's blocks. */
const CJK =
  /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/gu;
/** Characters _clean_text turns into a space (_is_whitespace) or drops (NUL, U+FFFD, _is_control). */
const WHITESPACE_OR_DROPPED = /[\t\n\r\p{Zs}]|[\p{C}\ufffd]/gu;
const IS_WHITESPACE = /^[\t\n\r\p{Zs}]$/u;
/** What Python's str.split() splits on. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: Python's str.split() whitespace includes the \x1c–\x1f separators
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\p{Zs}\u2028\u2029]+/u;

/**
 * transformers' text cleanup for CLIP without ftfy (BasicTokenizer with strip_accents=False,
 * no punctuation splitting), optionally preceded by the html.unescape(html.unescape(...)) of
 * OpenAI's original tokenizer.
 */
export function cleanText(text: string, options: { unescapeHtml?: boolean } = {}): string {
  let t = (options.unescapeHtml ?? true) ? decodeHTML(decodeHTML(text)) : text;
  t = t.replace(WHITESPACE_OR_DROPPED, (c) => (IS_WHITESPACE.test(c) ? ' ' : ''));
  t = t.replace(CJK, ' $& ').normalize('NFC');
  return t
    .split(PY_WHITESPACE)
    .filter((w) => w !== '')
    .map((w) => w.toLowerCase())
    .join(' ');
}

/** A special or added token as the config files write it: a string or an AddedToken object. */
const tokenSpec = z.union([z.string(), z.looseObject({ content: z.string(), lstrip: z.boolean().optional(), rstrip: z.boolean().optional() })]);
type TokenSpec = z.infer<typeof tokenSpec>;

const specialKeys = {
  bos_token: tokenSpec.nullish(),
  eos_token: tokenSpec.nullish(),
  unk_token: tokenSpec.nullish(),
  pad_token: tokenSpec.nullish(),
};
const tokenizerConfigSchema = z.looseObject({
  ...specialKeys,
  model_max_length: z.number().optional(),
  added_tokens_decoder: z.record(z.string(), tokenSpec).optional(),
});
const specialTokensMapSchema = z.looseObject(specialKeys);
// A plain loop rather than z.record(...): checking 49408 entries through zod takes 100+ ms.
const vocabSchema = z.custom<Record<string, number>>(
  (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    for (const id of Object.values(v)) if (!Number.isSafeInteger(id) || id < 0) return false;
    return true;
  },
  { message: 'vocab.json must map each token to a non-negative integer id' },
);

/** transformers reads at most this many merges (CLIP's 49152 BPE entries less bytes and specials). */
const MAX_MERGES = 49152 - 256 - 2;
/** transformers' LARGE_INTEGER: a model_max_length above it means "no limit". */
const NO_LIMIT = 1e20;
const DEFAULT_MAX_LENGTH = 77;

interface SpecialToken {
  content: string;
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

export interface ClipTokenizerOptions {
  /** Unescape HTML entities first, as OpenAI's CLIP and transformers with ftfy do (default true). */
  unescapeHtml?: boolean;
}

export class ClipTokenizer {
  private readonly cache = new Map<string, readonly string[]>();
  /** Longest first, so the longest special token wins where two start at one place. */
  private readonly specials: readonly SpecialToken[];

  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly ranks: ReadonlyMap<string, number>,
    specials: SpecialToken[],
    readonly maxLength: number,
    readonly bosTokenId: number,
    readonly eosTokenId: number,
    readonly padTokenId: number,
    readonly unkTokenId: number,
    private readonly options: ClipTokenizerOptions,
  ) {
    this.specials = [...specials].sort((a, b) => b.content.length - a.content.length);
  }

  get vocabSize(): number {
    return this.vocab.size;
  }

  /** Loads vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json from dir. */
  static async fromDir(dir: string, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    const vocabJson = vocabSchema.parse(await readJson(join(dir, 'vocab.json'), true));
    const mergesText = await readFile(join(dir, 'merges.txt'), 'utf8');
    const config = tokenizerConfigSchema.parse((await readJson(join(dir, 'tokenizer_config.json'), false)) ?? {});
    // As transformers' from_pretrained: special_tokens_map.json overrides the config's special
    // tokens, except in newer folders whose config lists added_tokens_decoder.
    const map = config.added_tokens_decoder ? {} : specialTokensMapSchema.parse((await readJson(join(dir, 'special_tokens_map.json'), false)) ?? {});

    const vocab = new Map(Object.entries(vocabJson));
    const ranks = parseMerges(mergesText);
    const pick = (key: keyof typeof specialKeys, fallback: string): TokenSpec => map[key] ?? config[key] ?? fallback;
    const specials = new Map<string, SpecialToken>();
    const special = (spec: TokenSpec, idHint?: number): SpecialToken => {
      const content = typeof spec === 'string' ? spec : spec.content;
      const id = idHint ?? vocab.get(content);
      if (id === undefined) throw new Error(`tokenizer in ${dir}: special token ${JSON.stringify(content)} is not in vocab.json`);
      const token = {
        content,
        id,
        lstrip: typeof spec === 'string' ? false : (spec.lstrip ?? false),
        rstrip: typeof spec === 'string' ? false : (spec.rstrip ?? false),
      };
      if (!specials.has(content)) specials.set(content, token);
      return token;
    };
    for (const [key, spec] of Object.entries(config.added_tokens_decoder ?? {})) {
      const id = Number(key);
      if (!Number.isSafeInteger(id) || id < 0) throw new Error(`tokenizer in ${dir}: added token id ${JSON.stringify(key)} is not an integer`);
      special(spec, id);
    }
    const bos = special(pick('bos_token', '<|startoftext|>'));
    const eos = special(pick('eos_token', '<|endoftext|>'));
    const unk = special(pick('unk_token', '<|endoftext|>'));
    const pad = special(pick('pad_token', '<|endoftext|>'));
    const configured = config.model_max_length;
    const maxLength = configured !== undefined && configured <= NO_LIMIT ? Math.floor(configured) : DEFAULT_MAX_LENGTH;
    if (maxLength < 2) throw new Error(`tokenizer in ${dir}: model_max_length ${maxLength} leaves no room for BOS and EOS`);
    return new ClipTokenizer(vocab, ranks, [...specials.values()], maxLength, bos.id, eos.id, pad.id, unk.id, options);
  }

  /** Textual-inversion embeddings: a whole word equal to a name becomes these ids (embeddings.ts). */
  private added?: { byName: ReadonlyMap<string, readonly number[]>; pattern: RegExp };

  /** A tokenizer that also maps each name (a whole word) to its ids, as A1111 does for embeddings. */
  withAddedWords(words: ReadonlyMap<string, readonly number[]>): ClipTokenizer {
    const t = new ClipTokenizer(
      this.vocab,
      this.ranks,
      [...this.specials],
      this.maxLength,
      this.bosTokenId,
      this.eosTokenId,
      this.padTokenId,
      this.unkTokenId,
      this.options,
    );
    if (words.size === 0) return t;
    const escaped = [...words.keys()].sort((x, y) => y.length - x.length).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    t.added = { byName: words, pattern: new RegExp(`(?<![\\p{L}\\p{N}_])(${escaped.join('|')})(?![\\p{L}\\p{N}_])`, 'gu') };
    return t;
  }

  /** Token ids of the text, without BOS/EOS, padding or truncation. */
  tokenize(text: string): number[] {
    if (!this.added) return this.tokenizePlain(text);
    const ids: number[] = [];
    let last = 0;
    for (const m of text.matchAll(this.added.pattern)) {
      ids.push(...this.tokenizePlain(text.slice(last, m.index)), ...(this.added.byName.get(m[1]) ?? []));
      last = (m.index ?? 0) + m[1].length;
    }
    ids.push(...this.tokenizePlain(text.slice(last)));
    return ids;
  }

  private tokenizePlain(text: string): number[] {
    const ids: number[] = [];
    for (const piece of this.splitOnSpecials(text)) {
      if (typeof piece !== 'string') {
        ids.push(piece.id);
        continue;
      }
      for (const [word] of cleanText(piece, this.options).matchAll(PATTERN)) {
        let encoded = '';
        for (const byte of Buffer.from(word, 'utf8')) encoded += BYTE_TO_CHAR[byte];
        for (const sub of this.bpe(encoded)) ids.push(this.vocab.get(sub) ?? this.unkTokenId);
      }
    }
    return ids;
  }

  /** Ids padded and truncated to maxLength with BOS/EOS, and how many prompt tokens did not fit. */
  encodeWithInfo(text: string): { ids: number[]; truncatedTokens: number } {
    const tokens = this.tokenize(text);
    const room = this.maxLength - 2;
    const ids = [this.bosTokenId, ...tokens.slice(0, room), this.eosTokenId];
    while (ids.length < this.maxLength) ids.push(this.padTokenId);
    return { ids, truncatedTokens: Math.max(0, tokens.length - room) };
  }

  encode(text: string): number[] {
    return this.encodeWithInfo(text).ids;
  }

  /**
   * The text cut at special tokens (leftmost, then longest match, like transformers' Trie),
   * honouring their lstrip/rstrip flags.
   */
  private splitOnSpecials(text: string): Array<string | SpecialToken> {
    const out: Array<string | SpecialToken> = [];
    let start = 0;
    let i = 0;
    let stripNextLeft = false;
    const pushText = (s: string) => {
      const t = stripNextLeft ? s.trimStart() : s;
      stripNextLeft = false;
      if (t) out.push(t);
    };
    while (i < text.length) {
      const match = this.specials.find((s) => text.startsWith(s.content, i));
      if (!match) {
        i++;
        continue;
      }
      let before = text.slice(start, i);
      if (match.lstrip) before = before.trimEnd();
      pushText(before);
      out.push(match);
      stripNextLeft = match.rstrip;
      i += match.content.length;
      start = i;
    }
    pushText(text.slice(start));
    return out;
  }

  private bpe(token: string): readonly string[] {
    if (token === '<|startoftext|>' || token === '<|endoftext|>') return [token];
    const cached = this.cache.get(token);
    if (cached) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = word[best];
      const b = word[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === a && word[i + 1] === b) {
          merged.push(a + b);
          i += 2;
        } else {
          merged.push(word[i++]);
        }
      }
      word = merged;
    }
    if (this.cache.size >= 50_000) this.cache.clear();
    this.cache.set(token, word);
    return word;
  }
}

/** merges.txt as transformers reads it: skip the first (#version) line, keep up to MAX_MERGES. */
function parseMerges(text: string): Map<string, number> {
  const ranks = new Map<string, number>();
  const lines = text
    .trim()
    .split('\n')
    .slice(1, 1 + MAX_MERGES);
  lines.forEach((line, rank) => {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 2) ranks.set(`${parts[0]} ${parts[1]}`, rank);
  });
  return ranks;
}

/** Parsed JSON of a file; a missing optional file gives undefined, anything else throws. */
async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

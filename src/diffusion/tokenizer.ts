// CLIP's byte-level BPE tokenizer, read from a model folder's own tokenizer files, giving the
// ids transformers' (slow) CLIPTokenizer gives as diffusers calls it: padding="max_length",
// truncation=True. Without ftfy installed (the usual case) transformers cleans text with a
// BasicTokenizer: drop control characters, turn whitespace into spaces, space out CJK
// ideographs, NFC, split on whitespace, lowercase. HTML entities are unescaped first, as
// with ftfy and OpenAI's original tokenizer (prompts pasted from web pages carry them);
// `unescapeHtml: false` gives transformers' plain non-ftfy result. Before cleaning,
// the text is cut at the special tokens (BOS, EOS, UNK, PAD and any added tokens), which map
// straight to their ids: for SD 2.x, whose pad token is "!", every "!" becomes id 0.
import { createHash } from 'node:crypto';
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
const VOCAB_MESSAGE = 'vocab.json must map each token to a non-negative integer id';

/** vocab.json's JSON → token → id, checked in the same single pass (49k entries: it is on the cold-start path). */
function vocabMap(json: unknown): Map<string, number> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(VOCAB_MESSAGE);
  const entries = json as Record<string, unknown>;
  const vocab = new Map<string, number>();
  for (const token in entries) {
    const id = entries[token];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new Error(VOCAB_MESSAGE);
    vocab.set(token, id);
  }
  return vocab;
}

interface ParsedFiles {
  vocab: ReadonlyMap<string, number>;
  ranks: ReadonlyMap<string, number>;
}

/**
 * Parsed vocab.json + merges.txt by content digest: a model loaded again (after the model cache
 * evicted it, or into a second pipeline) and SDXL's two tokenizers, whose files are the same,
 * parse them once. Hashing 1.5 MB costs a few ms; parsing it, a few hundred.
 */
const parsedFiles = new Map<string, ParsedFiles>();
const MAX_PARSED_FILES = 8;

function parseFiles(vocabText: string, mergesText: string, vocabPath: string): ParsedFiles {
  const key = createHash('sha1').update(vocabText).update('\0').update(mergesText).digest('hex');
  const cached = parsedFiles.get(key);
  if (cached) return cached;
  let json: unknown;
  try {
    json = JSON.parse(vocabText);
  } catch (err) {
    throw new Error(`${vocabPath} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = { vocab: vocabMap(json), ranks: parseMerges(mergesText) };
  if (parsedFiles.size >= MAX_PARSED_FILES) parsedFiles.delete(parsedFiles.keys().next().value!);
  parsedFiles.set(key, parsed);
  return parsed;
}

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
    const vocabPath = join(dir, 'vocab.json');
    const [vocabText, mergesText] = await Promise.all([readFile(vocabPath, 'utf8'), readFile(join(dir, 'merges.txt'), 'utf8')]);
    const { vocab, ranks } = parseFiles(vocabText, mergesText, vocabPath);
    const config = tokenizerConfigSchema.parse((await readJson(join(dir, 'tokenizer_config.json'), false)) ?? {});
    // As transformers' from_pretrained: special_tokens_map.json overrides the config's special
    // tokens, except in newer folders whose config lists added_tokens_decoder.
    const map = config.added_tokens_decoder ? {} : specialTokensMapSchema.parse((await readJson(join(dir, 'special_tokens_map.json'), false)) ?? {});

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
const MERGE_LINE = /^\S+ \S+$/;

function parseMerges(text: string): Map<string, number> {
  const ranks = new Map<string, number>();
  const lines = text.trim().split('\n');
  const end = Math.min(lines.length, 1 + MAX_MERGES);
  for (let i = 1; i < end; i++) {
    const line = lines[i];
    // The common case, "a b" with one space, is already its key; anything else is normalised.
    if (MERGE_LINE.test(line)) {
      ranks.set(line, i - 1);
      continue;
    }
    const parts = line.trim().split(/\s+/);
    if (parts.length === 2) ranks.set(`${parts[0]} ${parts[1]}`, i - 1);
  }
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

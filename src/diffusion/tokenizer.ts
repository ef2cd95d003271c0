// CLIP's byte-level BPE tokenizer, built from a model folder's own tokenizer files, with the
// same results as transformers' CLIPTokenizer: clean and normalise the text, split it with
// CLIP's pattern, byte-encode each piece, merge by rank, add BOS/EOS, truncate and pad.
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
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return bs.map((b, i) => [b, String.fromCodePoint(cs[i])]);
}

/** Indexed by byte value. */
function byteEncoderTable(): string[] {
  const table: string[] = new Array(256);
  for (const [b, c] of byteUnicodePairs()) table[b] = c;
  return table;
}

const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

const CJK = /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/gu;

const tokenLike = z.union([z.string(), z.object({ content: z.string() }).transform((t) => t.content)]);
const configSchema = z.looseObject({
  model_max_length: z.number().int().positive().optional(),
  bos_token: tokenLike.optional(),
  eos_token: tokenLike.optional(),
  pad_token: tokenLike.optional(),
  unk_token: tokenLike.optional(),
  do_lower_case: z.boolean().optional(),
});

/**
 * transformers' text cleanup for CLIP: html-unescape twice (ftfy's basic_clean), drop control
 * characters, NFC, collapse whitespace, lowercase.
 */
export function cleanText(text: string, lowerCase = true): string {
  let t = decodeHTML(decodeHTML(text));
  t = t.replace(/[\u0000\ufffd]/g, '').replace(/[\p{Cc}\p{Cf}]/gu, (c) => (/\s/.test(c) ? ' ' : ''));
  // BasicTokenizer puts spaces around CJK ideographs, so each becomes its own word.
  t = t.replace(CJK, ' $& ');
  t = t.normalize('NFC').replace(/\s+/g, ' ').trim();
  return lowerCase ? t.toLowerCase() : t;
}

export class ClipTokenizer {
  private readonly byteEncoder = byteEncoderTable();
  private readonly cache = new Map<string, string[]>();

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly ranks: Map<string, number>,
    readonly maxLength: number,
    readonly bosTokenId: number,
    readonly eosTokenId: number,
    readonly padTokenId: number,
    private readonly lowerCase: boolean,
  ) {}

  get vocabSize(): number {
    return this.vocab.size;
  }

  static async fromDir(dir: string): Promise<ClipTokenizer> {
    const vocabJson = z.record(z.string(), z.number().int()).parse(JSON.parse(await readFile(join(dir, 'vocab.json'), 'utf8')));
    const mergesText = await readFile(join(dir, 'merges.txt'), 'utf8');
    const readJson = async (name: string) => {
      try {
        return JSON.parse(await readFile(join(dir, name), 'utf8')) as unknown;
      } catch {
        return {};
      }
    };
    // special_tokens_map.json wins over tokenizer_config.json, as in transformers.
    const config = configSchema.parse({ ...((await readJson('tokenizer_config.json')) as object), ...((await readJson('special_tokens_map.json')) as object) });
    const vocab = new Map(Object.entries(vocabJson));
    const ranks = new Map<string, number>();
    mergesText
      .split('\n')
      .filter((l) => l && !l.startsWith('#version'))
      .forEach((line, i) => {
        const pair = line.trim();
        if (pair && !ranks.has(pair)) ranks.set(pair, i);
      });
    const id = (tok: string | undefined, fallback: string) => {
      const v = vocab.get(tok ?? fallback);
      if (v === undefined) throw new Error(`token ${tok ?? fallback} is not in vocab.json`);
      return v;
    };
    const eos = id(config.eos_token, '<|endoftext|>');
    return new ClipTokenizer(
      vocab,
      ranks,
      config.model_max_length && config.model_max_length < 100000 ? config.model_max_length : 77,
      id(config.bos_token, '<|startoftext|>'),
      eos,
      config.pad_token ? id(config.pad_token, '<|endoftext|>') : eos,
      config.do_lower_case ?? true,
    );
  }

  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + '</w>'];
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
      const [a, b] = [word[best], word[best + 1]];
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
    if (this.cache.size < 10000) this.cache.set(token, word);
    return word;
  }

  /** Token ids of the text, without BOS/EOS, padding or truncation. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    const clean = cleanText(text, this.lowerCase);
    for (const piece of clean.match(PATTERN) ?? []) {
      const encoded = Array.from(Buffer.from(piece, 'utf8'), (b) => this.byteEncoder[b]).join('');
      for (const sub of this.bpe(encoded)) {
        const id = this.vocab.get(sub);
        if (id !== undefined) ids.push(id);
      }
    }
    return ids;
  }

  /** Padded and truncated ids with BOS/EOS, and how many prompt tokens did not fit. */
  encodeWithInfo(text: string): { ids: number[]; truncatedTokens: number } {
    const tokens = this.tokenize(text);
    const room = this.maxLength - 2;
    const kept = tokens.slice(0, room);
    const ids = [this.bosTokenId, ...kept, this.eosTokenId];
    while (ids.length < this.maxLength) ids.push(this.padTokenId);
    return { ids, truncatedTokens: Math.max(0, tokens.length - room) };
  }

  encode(text: string): number[] {
    return this.encodeWithInfo(text).ids;
  }
}

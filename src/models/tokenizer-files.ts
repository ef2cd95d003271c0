// Writes the tokenizer/ folder of a model (vocab.json, merges.txt, tokenizer_config.json,
// special_tokens_map.json) as Hugging Face's SD 1.x (openai/clip-vit-large-patch14) and SD 2.x
// folders have it. The real files are derived from CLIP's published BPE merge list when
// ../shared has it; without it a small vocabulary built the same way keeps tiny test models
// working.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { byteUnicodePairs } from '../diffusion/tokenizer.js';

/** The checkout: two folders up from src/models/, three from the compiled dist/src/models/. */
const REPO_ROOT = (() => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = resolve(here, '../..');
  return existsSync(join(up, 'package.json')) ? up : resolve(up, '..');
})();
/** CLIP's merge count: 49152 BPE entries less the 256 bytes and 2 specials. */
const CLIP_MERGES = 49152 - 256 - 2;
const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';

/** Words the fallback vocabulary keeps whole (longest first, see fallbackMerges). */
export const FALLBACK_WORDS: readonly string[] = [
  'landscape',
  'painting',
  'mountain',
  'portrait',
  'photo',
  'house',
  'tree',
  'blue',
  'red',
  'dog',
  'cat',
  'sky',
  'the',
  'and',
  'of',
  'to',
  'is',
  'in',
  'on',
  'with',
];

/**
 * Merges for the fallback vocabulary: each word joined left to right ("p h", "ph o", …,
 * "phot o</w>"). A word's merges all rank below the next word's, and each chain starts with
 * the only single-character pair it has, so earlier words always merge to one token; the
 * order above keeps later words clear of earlier words' first pairs.
 */
export function fallbackMerges(words: readonly string[] = FALLBACK_WORDS): string[] {
  const made = new Set<string>();
  const merges: string[] = [];
  for (const word of words) {
    const symbols = Array.from(word);
    symbols[symbols.length - 1] += '</w>';
    let current = symbols[0];
    for (const next of symbols.slice(1)) {
      if (!made.has(current + next)) {
        merges.push(`${current} ${next}`);
        made.add(current + next);
      }
      current += next;
    }
  }
  return merges;
}

/** ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz next to the repository, when it is there. */
export function defaultBpePath(): string | undefined {
  const p = join(REPO_ROOT, '..', 'shared', 'data', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
  return existsSync(p) ? p : undefined;
}

/** CLIP's vocabulary order: bytes, bytes + </w>, each merge's concatenation, then the two specials. */
export function clipVocabTokens(merges: readonly string[]): string[] {
  const bytes = byteUnicodePairs().map(([, c]) => c);
  return [...bytes, ...bytes.map((b) => `${b}</w>`), ...merges.map((m) => m.replace(' ', '')), BOS, EOS];
}

/** The merge lines of CLIP's gzipped BPE file: lines 1 .. 48894 (line 0 is a header). */
export function readClipMerges(bpePath: string): string[] {
  // The file holds far more lines than CLIP uses; decode only the header and the merges.
  const bytes = gunzipSync(readFileSync(bpePath));
  let end = -1;
  for (let line = 0; line <= CLIP_MERGES; line++) {
    end = bytes.indexOf(0x0a, end + 1);
    if (end < 0) break;
  }
  const merges = bytes
    .subarray(0, end < 0 ? bytes.length : end)
    .toString('utf8')
    .split('\n')
    .slice(1, 1 + CLIP_MERGES);
  if (merges.length !== CLIP_MERGES || !merges.every(isMergeLine)) {
    throw new Error(`${bpePath} does not look like CLIP's BPE merge list`);
  }
  return merges;
}

/** "a b": two non-empty symbols and one space. */
function isMergeLine(line: string): boolean {
  const space = line.indexOf(' ');
  return space > 0 && space < line.length - 1 && line.indexOf(' ', space + 1) < 0;
}

/** vocab.json text in id order (JSON.stringify on an object would put "0".."9" first). */
function vocabJson(tokens: readonly string[]): string {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => ids.set(t, i)); // later duplicates win, as Python's dict(zip(...)) does
  return `{${[...ids].map(([t, i]) => `${JSON.stringify(t)}: ${i}`).join(', ')}}`;
}

const addedToken = (content: string, withType: boolean) => ({
  ...(withType ? { __type: 'AddedToken' } : {}),
  content,
  lstrip: false,
  normalized: true,
  rstrip: false,
  single_word: false,
});

/**
 * Writes the four tokenizer files into dir. bpePath defaults to the shared CLIP file; null (or
 * no shared file) gives the small fallback vocabulary.
 */
export async function writeClipTokenizerFiles(
  dir: string,
  opts: { padToken?: '<|endoftext|>' | '!'; bpePath?: string | null } = {},
): Promise<{ vocabSize: number; source: 'clip' | 'tiny' }> {
  const bpePath = opts.bpePath === null ? undefined : (opts.bpePath ?? defaultBpePath());
  const source = bpePath ? 'clip' : 'tiny';
  const merges = bpePath ? readClipMerges(bpePath) : fallbackMerges();
  const tokens = clipVocabTokens(merges);
  const padToken = opts.padToken ?? EOS;
  const nameOrPath = source === 'tiny' ? 'tiny-clip' : padToken === '!' ? 'stabilityai/stable-diffusion-2/tokenizer' : 'openai/clip-vit-large-patch14';

  // Key order and the "__type" markers follow the files on the hub; SD 2.x keeps
  // "<|endoftext|>" in tokenizer_config.json and sets "!" in special_tokens_map.json, which wins.
  const config = {
    add_prefix_space: false,
    bos_token: addedToken(BOS, true),
    do_lower_case: true,
    eos_token: addedToken(EOS, true),
    errors: 'replace',
    model_max_length: 77,
    name_or_path: nameOrPath,
    pad_token: EOS,
    special_tokens_map_file: './special_tokens_map.json',
    tokenizer_class: 'CLIPTokenizer',
    unk_token: addedToken(EOS, true),
  };
  const specialTokensMap = {
    bos_token: addedToken(BOS, false),
    eos_token: addedToken(EOS, false),
    pad_token: padToken,
    unk_token: addedToken(EOS, false),
  };

  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'vocab.json'), vocabJson(tokens));
  await writeFile(join(dir, 'merges.txt'), `${['#version: 0.2', ...merges].join('\n')}\n`);
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(dir, 'special_tokens_map.json'), `${JSON.stringify(specialTokensMap, null, 2)}\n`);
  return { vocabSize: new Set(tokens).size, source };
}

// Writes the tokenizer/ folder of a model (vocab.json, merges.txt, tokenizer_config.json,
// special_tokens_map.json) as Hugging Face's SD 1.x/2.x folders have it. The real files are
// derived from CLIP's published BPE merge list when ../shared has it; without it a small
// vocabulary built the same way keeps tiny test models working.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { byteUnicodePairs } from '../diffusion/tokenizer.js';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** CLIP's merge count: 49152 BPE entries less the 256 bytes and 2 specials. */
const CLIP_MERGES = 49152 - 256 - 2;

/** A few common English merges, so the fallback vocabulary still forms whole words. */
const FALLBACK_MERGES = [
  'i n', 't h', 'a n', 'r e', 'a r', 'e r', 'th e</w>', 'in g</w>', 'o u', 'o n', 's t', 'o r', 'e n', 'o n</w>',
  'a l', 'a t', 'e r</w>', 'i t', 'i n</w>', 't o</w>', 'r o', 'i s</w>', 'l e', 'i c', 'a n</w>', 'o f</w>',
  'a </w>', 'c a', 'c at</w>', 'a t</w>', 'p h', 'ph o', 'pho t', 'phot o</w>', 'd o', 'do g</w>',
];

export function defaultBpePath(): string | undefined {
  const p = join(REPO_ROOT, '..', 'shared', 'data', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
  return existsSync(p) ? p : undefined;
}

/** CLIP's vocabulary order: bytes, bytes + </w>, merges, then the two specials. */
function buildVocab(merges: string[]): Record<string, number> {
  const bytes = byteUnicodePairs().map(([, c]) => c);
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`), ...merges.map((m) => m.replace(' ', '')), '<|startoftext|>', '<|endoftext|>'];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  return vocab;
}

export async function writeClipTokenizerFiles(
  dir: string,
  opts: { padToken?: '<|endoftext|>' | '!'; bpePath?: string } = {},
): Promise<{ vocabSize: number; source: 'clip' | 'tiny' }> {
  const bpePath = opts.bpePath ?? defaultBpePath();
  let merges: string[];
  let source: 'clip' | 'tiny';
  if (bpePath) {
    const lines = gunzipSync(readFileSync(bpePath)).toString('utf8').split('\n');
    merges = lines.slice(1, 1 + CLIP_MERGES);
    source = 'clip';
  } else {
    merges = FALLBACK_MERGES;
    source = 'tiny';
  }
  const vocab = buildVocab(merges);
  const padToken = opts.padToken ?? '<|endoftext|>';
  const special = (content: string) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'vocab.json'), JSON.stringify(vocab));
  await writeFile(join(dir, 'merges.txt'), ['#version: 0.2', ...merges].join('\n') + '\n');
  await writeFile(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify(
      {
        add_prefix_space: false,
        bos_token: special('<|startoftext|>'),
        do_lower_case: true,
        eos_token: special('<|endoftext|>'),
        errors: 'replace',
        model_max_length: 77,
        name_or_path: source === 'clip' ? 'openai/clip-vit-large-patch14' : 'tiny-clip',
        pad_token: padToken === '!' ? '!' : '<|endoftext|>',
        special_tokens_map_file: null,
        tokenizer_class: 'CLIPTokenizer',
        unk_token: special('<|endoftext|>'),
      },
      null,
      2,
    ),
  );
  await writeFile(
    join(dir, 'special_tokens_map.json'),
    JSON.stringify(
      {
        bos_token: special('<|startoftext|>'),
        eos_token: special('<|endoftext|>'),
        pad_token: padToken,
        unk_token: special('<|endoftext|>'),
      },
      null,
      2,
    ),
  );
  return { vocabSize: Object.keys(vocab).length, source };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClipTokenizer, byteUnicodePairs } from '../../src/diffusion/tokenizer.js';
import { FALLBACK_WORDS, defaultBpePath, fallbackMerges, readClipMerges, writeClipTokenizerFiles } from '../../src/models/tokenizer-files.js';

const bpe = defaultBpePath();
const skipReal = bpe ? false : 'needs ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz (absent)';

const tempDir = () => mkdtempSync(join(tmpdir(), 'tokfiles-'));
const readJson = async (dir: string, name: string) => JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;

const addedToken = (content: string, type: boolean) => ({
  ...(type ? { __type: 'AddedToken' } : {}),
  content,
  lstrip: false,
  normalized: true,
  rstrip: false,
  single_word: false,
});

test('defaultBpePath points at ../shared/data/clip next to the repository', () => {
  if (bpe) assert.match(bpe, /[/\\]shared[/\\]data[/\\]clip[/\\]bpe_simple_vocab_16e6\.txt\.gz$/);
  else assert.equal(bpe, undefined);
});

test("from the shared BPE file: CLIP's 49408-entry vocabulary and merges.txt", { skip: skipReal }, async () => {
  const dir = tempDir();
  assert.deepEqual(await writeClipTokenizerFiles(dir), { vocabSize: 49408, source: 'clip' });
  const vocab = (await readJson(dir, 'vocab.json')) as Record<string, number>;
  const entries = Object.entries(vocab);
  assert.equal(entries.length, 49408);
  const text = await readFile(join(dir, 'vocab.json'), 'utf8');
  assert.ok(text.startsWith('{"!": 0, "\\"": 1, "#": 2, '), 'written in id order');
  assert.ok(text.endsWith('"<|startoftext|>": 49406, "<|endoftext|>": 49407}'));
  assert.deepEqual(new Set(Object.values(vocab)).size, 49408);
  const bytes = byteUnicodePairs();
  assert.equal(vocab['!</w>'], 256);
  assert.equal(vocab[`${bytes[255][1]}</w>`], 511);
  assert.equal(vocab['<|startoftext|>'], 49406);
  assert.equal(vocab['<|endoftext|>'], 49407);
  assert.deepEqual([vocab['a</w>'], vocab['photo</w>'], vocab['cat</w>']], [320, 1125, 2368]);

  const merges = (await readFile(join(dir, 'merges.txt'), 'utf8')).split('\n');
  assert.equal(merges[0], '#version: 0.2');
  assert.equal(merges.length, 1 + 48894 + 1, 'header, the merges, trailing newline');
  assert.equal(vocab[merges[1].replace(' ', '')], 512, 'the first merge is the first id after the bytes');
  assert.equal(vocab[merges[48894].replace(' ', '')], 49405);

  const tok = await ClipTokenizer.fromDir(dir);
  assert.deepEqual(tok.encode('a photo of a cat').slice(0, 8), [49406, 320, 1125, 539, 320, 2368, 49407, 49407]);
});

test('config files carry the keys of the SD 1.x / SD 2.x folders on the hub', { skip: skipReal }, async () => {
  const sd1 = tempDir();
  await writeClipTokenizerFiles(sd1);
  assert.deepEqual(await readJson(sd1, 'tokenizer_config.json'), {
    add_prefix_space: false,
    bos_token: addedToken('<|startoftext|>', true),
    do_lower_case: true,
    eos_token: addedToken('<|endoftext|>', true),
    errors: 'replace',
    model_max_length: 77,
    name_or_path: 'openai/clip-vit-large-patch14',
    pad_token: '<|endoftext|>',
    special_tokens_map_file: './special_tokens_map.json',
    tokenizer_class: 'CLIPTokenizer',
    unk_token: addedToken('<|endoftext|>', true),
  });
  assert.deepEqual(await readJson(sd1, 'special_tokens_map.json'), {
    bos_token: addedToken('<|startoftext|>', false),
    eos_token: addedToken('<|endoftext|>', false),
    pad_token: '<|endoftext|>',
    unk_token: addedToken('<|endoftext|>', false),
  });

  const sd2 = tempDir();
  await writeClipTokenizerFiles(sd2, { padToken: '!' });
  assert.equal((await readJson(sd2, 'tokenizer_config.json')).pad_token, '<|endoftext|>', 'as on the hub');
  assert.equal((await readJson(sd2, 'special_tokens_map.json')).pad_token, '!');
  assert.equal((await ClipTokenizer.fromDir(sd2)).padTokenId, 0);
});

test('fallback without the shared file: a small vocabulary built the same way', async () => {
  const dir = tempDir();
  const merges = fallbackMerges();
  assert.deepEqual(await writeClipTokenizerFiles(dir, { bpePath: null }), { vocabSize: 512 + merges.length + 2, source: 'tiny' });
  const vocab = (await readJson(dir, 'vocab.json')) as Record<string, number>;
  const size = Object.keys(vocab).length;
  assert.equal(vocab['<|startoftext|>'], size - 2, 'the specials are the last two ids');
  assert.equal(vocab['<|endoftext|>'], size - 1);
  // Every merge joins tokens that exist by then into a new one.
  merges.forEach((merge, i) => {
    const [a, b] = merge.split(' ');
    assert.ok(vocab[a] < 512 + i && vocab[b] < 512 + i, `${merge}: parts exist before it`);
    assert.equal(vocab[a + b], 512 + i, `${merge}: a new token`);
  });
  assert.equal((await readFile(join(dir, 'merges.txt'), 'utf8')).split('\n')[0], '#version: 0.2');

  const tok = await ClipTokenizer.fromDir(dir);
  for (const word of FALLBACK_WORDS) assert.equal(tok.tokenize(word).length, 1, `${word} is one token`);
  const ids = tok.encode('a photo of a cat');
  assert.deepEqual(ids.slice(0, 8), [size - 2, vocab['a</w>'], vocab['photo</w>'], vocab['of</w>'], vocab['a</w>'], vocab['cat</w>'], size - 1, size - 1]);
  assert.equal(ids.length, 77);
  assert.equal(tok.tokenize('zebra').length, 5, 'unknown words fall back to byte tokens');
  assert.equal((await ClipTokenizer.fromDir(await fallbackDir('!'))).padTokenId, vocab['!']);
});

async function fallbackDir(padToken: '!' | '<|endoftext|>') {
  const dir = tempDir();
  await writeClipTokenizerFiles(dir, { bpePath: null, padToken });
  return dir;
}

test("a file that is not CLIP's merge list is refused", async () => {
  const dir = tempDir();
  const path = join(dir, 'bpe.txt.gz');
  writeFileSync(path, gzipSync('#version\na b\nc d\n'));
  assert.throws(() => readClipMerges(path), /does not look like CLIP's BPE merge list/);
  await assert.rejects(writeClipTokenizerFiles(join(dir, 'out'), { bpePath: path }), /does not look like/);
});

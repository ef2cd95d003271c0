import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipTokenizer, cleanText } from '../../src/diffusion/tokenizer.js';
import { defaultBpePath, writeClipTokenizerFiles } from '../../src/models/tokenizer-files.js';

const skipReal = defaultBpePath() ? false : 'needs ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz (absent)';
const BOS = 49406;
const EOS = 49407;

async function folder(opts: Parameters<typeof writeClipTokenizerFiles>[1] = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  await writeClipTokenizerFiles(dir, opts);
  return dir;
}

// One real SD 1.x tokenizer, written once (building it takes a few hundred ms).
let realTokenizer: Promise<ClipTokenizer> | undefined;
function real(): Promise<ClipTokenizer> {
  realTokenizer ??= folder().then((dir) => ClipTokenizer.fromDir(dir));
  return realTokenizer;
}

// Ids that transformers' CLIPTokenizer (openai/clip-vit-base-patch32 / large-patch14 share the
// vocabulary) and open_clip print for these prompts, as pinned by other projects' tests.
const PUBLISHED: Array<[string, number[]]> = [
  ['a photo of a cat', [BOS, 320, 1125, 539, 320, 2368, EOS]],
  ['a diagram', [BOS, 320, 22697, EOS]],
  ['a photo of a waterfall', [BOS, 320, 1125, 539, 320, 16403, EOS]],
  ['dog on a beach', [BOS, 1929, 525, 320, 2117, EOS]],
  ['mobileclip', [BOS, 9451, 944, 8546, EOS]],
  ['hatbox', [BOS, 3447, 2063, EOS]],
  ['hat box', [BOS, 3801, 2063, EOS]],
  ['Hello,   WORLD!', [BOS, 3306, 267, 1002, 256, EOS]],
  ['birthday cake 2024', [BOS, 1166, 2972, 273, 271, 273, 275, EOS]],
  ['café', [BOS, 15304, EOS]],
  ['🐶', [BOS, 10631, EOS]],
  ['', [BOS, EOS]],
  ['     ', [BOS, EOS]],
  ['person working at a computer', [BOS, 2533, 1699, 536, 320, 11639, 652, EOS]],
  ["it's a beautiful day", [BOS, 585, 568, 320, 1215, 575, EOS]],
  ["I can't believe it's not butter", [BOS, 328, 753, 713, 2649, 585, 568, 783, 6952, EOS]],
  ["they're working on it", [BOS, 889, 982, 1699, 525, 585, EOS]],
  ['hello, world! how are you?', [BOS, 3306, 267, 1002, 256, 829, 631, 592, 286, EOS]],
  ['email: user@example.com', [BOS, 4462, 281, 7031, 287, 6228, 269, 2464, EOS]],
  ['!!!', [BOS, 995, EOS]],
  ['the year 2024 was interesting', [BOS, 518, 935, 273, 271, 273, 275, 739, 3628, EOS]],
  ['3.14 is pi', [BOS, 274, 269, 272, 275, 533, 5357, EOS]],
  ['  HELLO   World  ', [BOS, 3306, 1002, EOS]],
  ['MacBook Pro 16-inch', [BOS, 20617, 2630, 272, 277, 268, 6523, EOS]],
  ['A Photo of a TREE!', [BOS, 320, 1125, 539, 320, 2677, 256, EOS]],
  ["it's a cat's toy, running   fast", [BOS, 585, 568, 320, 2368, 568, 5988, 267, 2761, 1953, EOS]],
  ['2 dogs and 3 cats', [BOS, 273, 3255, 537, 274, 3989, EOS]],
];

test('real CLIP vocabulary: published transformers ids, SD 1.x padding', { skip: skipReal }, async () => {
  const tok = await real();
  assert.equal(tok.vocabSize, 49408);
  assert.deepEqual([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.maxLength], [BOS, EOS, EOS, 77]);
  for (const [text, expected] of PUBLISHED) {
    const { ids, truncatedTokens } = tok.encodeWithInfo(text);
    assert.equal(ids.length, 77, text);
    assert.deepEqual(ids.slice(0, expected.length), expected, JSON.stringify(text));
    assert.ok(
      ids.slice(expected.length).every((id) => id === EOS),
      `${JSON.stringify(text)} pads with <|endoftext|>`,
    );
    assert.equal(truncatedTokens, 0);
  }
});

test('special tokens typed in the prompt map to their ids', { skip: skipReal }, async () => {
  const tok = await real();
  assert.deepEqual(tok.tokenize('hello<|endoftext|>world'), [3306, EOS, 1002]);
  assert.deepEqual(tok.tokenize('HELLO<|ENDOFTEXT|>'), [3306, EOS], 'lowercased text still matches the pattern');
  assert.deepEqual(tok.tokenize('<|startoftext|>'), [BOS]);
});

test('SD 2.x pads with "!" (id 0), and a "!" in the prompt is that special token too', { skip: skipReal }, async () => {
  const tok = await ClipTokenizer.fromDir(await folder({ padToken: '!' }));
  assert.equal(tok.padTokenId, 0);
  const ids = tok.encode('a photo of a cat');
  assert.deepEqual(ids.slice(0, 8), [BOS, 320, 1125, 539, 320, 2368, EOS, 0]);
  assert.ok(ids.slice(7).every((id) => id === 0));
  // transformers cuts the text at added tokens before BPE: "!" → 0, not "!</w>" (256) or "!!" (748).
  assert.deepEqual(tok.tokenize('wow!!'), [2781, 0, 0]);
  assert.deepEqual((await real()).tokenize('wow!!'), [2781, 748]);
});

test('cleaning follows transformers without ftfy: controls, whitespace, CJK, NFC, lowercase', () => {
  assert.equal(cleanText('  A\tPHOTO\nof\r\na\u00a0Cat  '), 'a photo of a cat');
  assert.equal(cleanText('a\u200bb\u0000c\ufffdd'), 'abcd', 'format and control characters are dropped');
  assert.equal(cleanText('a\u000bb'), 'ab', 'vertical tab is a control character there, not whitespace');
  assert.equal(cleanText('x\u2028y'), 'x y', 'line separator splits words');
  assert.equal(cleanText('Cafe\u0301'), 'café');
  assert.equal(cleanText('東京タワー'), '東 京 タワー');
  assert.equal(cleanText('ΟΔΟΣ İ'), 'οδος i\u0307');
  assert.equal(cleanText('cats &amp; dogs', { unescapeHtml: false }), 'cats &amp; dogs', 'transformers without ftfy');
  assert.equal(cleanText('cats &amp;amp; dogs'), 'cats & dogs', "unescaped twice, as ftfy's basic_clean");
});

test('unicode and HTML entities through the real vocabulary', { skip: skipReal }, async () => {
  const tok = await real();
  // Each ideograph is its own word; kana stay together.
  assert.deepEqual(tok.tokenize('東京タワー'), [...tok.tokenize('東'), ...tok.tokenize('京'), ...tok.tokenize('タワー')]);
  assert.deepEqual(tok.tokenize('Cafe\u0301'), [15304]);
  // "&amp;" is unescaped by default; opting out keeps it as text: "&" (261), "amp", ";" (282).
  assert.deepEqual(tok.tokenize('cats &amp; dogs'), [3989, 261, 3255]);
  const dir = await folder();
  const literal = await ClipTokenizer.fromDir(dir, { unescapeHtml: false });
  assert.deepEqual(literal.tokenize('cats &amp; dogs'), [3989, 261, 6259, 282, 3255]);
});

test('a prompt longer than the window is truncated, EOS kept, and the drop counted', { skip: skipReal }, async () => {
  const tok = await real();
  const words = (n: number) => Array.from({ length: n }, () => 'cat').join(' ');
  const long = tok.encodeWithInfo(words(100));
  assert.equal(long.ids.length, 77);
  assert.deepEqual([long.ids[0], long.ids[75], long.ids[76]], [BOS, 2368, EOS]);
  assert.equal(long.truncatedTokens, 25);
  const exact = tok.encodeWithInfo(words(75));
  assert.deepEqual([exact.ids[75], exact.ids[76], exact.truncatedTokens], [2368, EOS, 0]);
  assert.equal(tok.encodeWithInfo(words(76)).truncatedTokens, 1);
});

test('newer folders: added_tokens_decoder in tokenizer_config.json makes special_tokens_map.json ignored', async () => {
  const dir = await folder({ bpePath: null, padToken: '!' });
  const vocab = JSON.parse(await readFile(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const legacy = await ClipTokenizer.fromDir(dir);
  assert.equal(legacy.padTokenId, 0, 'legacy folder: special_tokens_map.json sets pad "!"');
  const config = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  config.added_tokens_decoder = {
    [vocab['<|startoftext|>']]: { content: '<|startoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false, special: true },
    [vocab['<|endoftext|>']]: { content: '<|endoftext|>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
  };
  config.bos_token = '<|startoftext|>';
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  const modern = await ClipTokenizer.fromDir(dir);
  assert.equal(modern.padTokenId, vocab['<|endoftext|>']);
  assert.equal(modern.bosTokenId, vocab['<|startoftext|>']);
});

test('model_max_length sets the window; "no limit" values fall back to 77', async () => {
  const dir = await folder({ bpePath: null });
  const configPath = join(dir, 'tokenizer_config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  await writeFile(configPath, JSON.stringify({ ...config, model_max_length: 8 }));
  const short = await ClipTokenizer.fromDir(dir);
  const { ids, truncatedTokens } = short.encodeWithInfo('a photo of a cat and a dog');
  assert.equal(ids.length, 8);
  assert.equal(ids[7], short.eosTokenId);
  assert.equal(truncatedTokens, 2);
  await writeFile(configPath, JSON.stringify({ ...config, model_max_length: 1e30 }));
  assert.equal((await ClipTokenizer.fromDir(dir)).maxLength, 77);
});

test('bad tokenizer folders fail with the file named', async () => {
  const dir = await folder({ bpePath: null });
  await writeFile(join(dir, 'tokenizer_config.json'), '{ not json');
  await assert.rejects(ClipTokenizer.fromDir(dir), /tokenizer_config\.json is not valid JSON/);
  await rm(join(dir, 'tokenizer_config.json'));
  await writeFile(join(dir, 'special_tokens_map.json'), JSON.stringify({ pad_token: '<pad>' }));
  await assert.rejects(ClipTokenizer.fromDir(dir), /"<pad>" is not in vocab\.json/);
  await rm(join(dir, 'special_tokens_map.json'));
  assert.equal((await ClipTokenizer.fromDir(dir)).maxLength, 77, 'the two config files are optional');
  await writeFile(join(dir, 'vocab.json'), JSON.stringify({ a: 'zero' }));
  await assert.rejects(ClipTokenizer.fromDir(dir), /non-negative integer id/);
  await rm(join(dir, 'vocab.json'));
  await assert.rejects(ClipTokenizer.fromDir(dir), { code: 'ENOENT' });
});

test('repeated encodes are stable (the BPE cache returns what it computed)', { skip: skipReal }, async () => {
  const tok = await real();
  const first = tok.encode('a photo of a waterfall, mobileclip');
  for (let i = 0; i < 3; i++) assert.deepEqual(tok.encode('a photo of a waterfall, mobileclip'), first);
});

test('parsed files are shared by content: a copy loads the same tokenizer, an edited vocab.json is read again', async () => {
  const a = await folder({ bpePath: null });
  const b = await folder({ bpePath: null });
  const first = await ClipTokenizer.fromDir(a);
  const copy = await ClipTokenizer.fromDir(b);
  assert.deepEqual(copy.encode('a photo of a cat'), first.encode('a photo of a cat'));
  const vocab = JSON.parse(await readFile(join(b, 'vocab.json'), 'utf8')) as Record<string, number>;
  const catId = vocab['cat</w>'];
  assert.ok(catId !== undefined, 'the fallback vocabulary has cat');
  // Swap two ids: a cache keyed by folder or size would not see it.
  const photoId = vocab['photo</w>'];
  vocab['cat</w>'] = photoId;
  vocab['photo</w>'] = catId;
  await writeFile(join(b, 'vocab.json'), JSON.stringify(vocab));
  const edited = await ClipTokenizer.fromDir(b);
  assert.deepEqual(edited.encode('cat').slice(0, 3), [first.bosTokenId, photoId, first.eosTokenId]);
  assert.deepEqual((await ClipTokenizer.fromDir(a)).encode('cat').slice(0, 3), [first.bosTokenId, catId, first.eosTokenId]);
});

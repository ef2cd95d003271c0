import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClipTokenizer, cleanText } from '../../src/diffusion/tokenizer.js';
import { defaultBpePath, writeClipTokenizerFiles } from '../../src/models/tokenizer-files.js';

const bpe = defaultBpePath();
const skipReal = bpe ? false : 'needs ../shared/data/clip/bpe_simple_vocab_16e6.txt.gz (absent)';

async function tokenizer(padToken?: '<|endoftext|>' | '!', bpePath?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  const info = await writeClipTokenizerFiles(dir, { padToken, bpePath });
  return { tok: await ClipTokenizer.fromDir(dir), info };
}

test('real CLIP vocabulary: "a photo of a cat" gives transformers\' ids', { skip: skipReal }, async () => {
  const { tok, info } = await tokenizer();
  assert.deepEqual(info, { vocabSize: 49408, source: 'clip' });
  const ids = tok.encode('a photo of a cat');
  assert.equal(ids.length, 77);
  assert.deepEqual(ids.slice(0, 7), [49406, 320, 1125, 539, 320, 2368, 49407]);
  assert.ok(ids.slice(7).every((id) => id === 49407), 'SD 1.x pads with <|endoftext|>');
});

test('SD 2.x pads with "!" (id 0)', { skip: skipReal }, async () => {
  const { tok } = await tokenizer('!');
  const ids = tok.encode('a photo of a cat');
  assert.equal(tok.padTokenId, 0);
  assert.deepEqual(ids.slice(7, 10), [0, 0, 0]);
});

test('normalisation: case, whitespace, html entities, digits, punctuation', { skip: skipReal }, async () => {
  const { tok } = await tokenizer();
  assert.deepEqual(tok.encode('A   PHOTO\tof\na Cat'), tok.encode('a photo of a cat'));
  assert.deepEqual(tok.encode('cats &amp; dogs'), tok.encode('cats & dogs'));
  // Every digit is its own token, as CLIP's pattern splits \p{N} one by one.
  const digits = tok.tokenize('2024');
  assert.equal(digits.length, 4);
  assert.deepEqual(tok.tokenize('hello, world!').length, 4);
  assert.equal(cleanText('Caf\u0065\u0301  &lt;b&gt;'), 'café <b>');
});

test('a prompt longer than the window is truncated, EOS kept, and the drop counted', { skip: skipReal }, async () => {
  const { tok } = await tokenizer();
  const long = Array.from({ length: 100 }, () => 'cat').join(' ');
  const { ids, truncatedTokens } = tok.encodeWithInfo(long);
  assert.equal(ids.length, 77);
  assert.equal(ids[76], 49407);
  assert.equal(truncatedTokens, 100 - 75);
  assert.equal(tok.encodeWithInfo('a cat').truncatedTokens, 0);
});

test('fallback vocabulary without the shared data still round-trips', async () => {
  const { tok, info } = await tokenizer(undefined, undefined as never);
  assert.ok(info.vocabSize > 512);
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  const small = await writeClipTokenizerFiles(dir, { bpePath: undefined });
  assert.ok(small.vocabSize > 0);
  const ids = tok.encode('a photo of a cat');
  assert.equal(ids[0], tok.bosTokenId);
  assert.equal(ids.length, 77);
  assert.ok(ids.includes(tok.eosTokenId));
});

// The T5 tokenizer against HF's own Rust tokenizers library (npm `tokenizers`, the code that
// transformers' T5TokenizerFast runs), on generated T5-style tokenizer.json files: a Unigram
// vocabulary of a few hundred pieces and a precompiled charsmap built in the darts-clone format
// (test/support/t5-tokenizer-json.ts), in SD3's tokenizer_3 layout and the older T5 layout.
// The real 32k T5 vocabulary is not available offline (no npm package ships it), so parity on
// it is by construction: same file format, same algorithm, checked here piece by piece.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { precompiled, Tokenizer } from 'tokenizers';
import { ModelError } from '../../src/diffusion/errors.js';
import { PrecompiledCharsmap } from '../../src/diffusion/t5/precompiled-charsmap.js';
import { loadT5Tokenizer, T5Tokenizer } from '../../src/diffusion/t5/tokenizer.js';
import { buildPrecompiledCharsmap, sampleCharsmapEntries, t5TokenizerJson } from '../support/t5-tokenizer-json.js';

/** Prompts from diffusers' SD3 docs (docs/source/en/api/pipelines/stable_diffusion/stable_diffusion_3.md) and others' docs. */
const PUBLISHED_PROMPTS = [
  // stable_diffusion_3.md
  'a photo of a cat holding a sign that says hello world',
  'a cat',
  'lowres, low quality, worst quality',
  'a tiny astronaut hatching from an egg on the moon',
  // stable_diffusion_3.md, "Using Long Prompts with the T5 Text Encoder" (its double space and ’ included)
  'A whimsical and creative image depicting a hybrid creature that is a mix of a waffle and a hippopotamus, basking in a river of melted butter amidst a breakfast-themed landscape. It features the distinctive, bulky body shape of a hippo. However, instead of the usual grey skin, the creature’s body resembles a golden-brown, crispy waffle fresh off the griddle. The skin is textured with the familiar grid pattern of a waffle, each square filled with a glistening sheen of syrup. The environment combines the natural habitat of a hippo with elements of a breakfast table setting, a river of warm, melted butter, with oversized utensils or plates peeking out from the lush, pancake-like foliage in the background, a towering pepper mill standing in for a tree.  As the sun rises in this fantastical world, it casts a warm, buttery glow over the scene. The creature, content in its butter river, lets out a yawn. Nearby, a flock of birds take flight',
  'A whimsical and creative image depicting a hybrid creature that is a mix of a waffle and a hippopotamus, basking in a river of melted butter amidst a breakfast-themed landscape. A river of warm, melted butter, pancake-like foliage in the background, a towering pepper mill standing in for a tree.',
  // flux.md, stable_diffusion/stable_diffusion.md, img2img.md, stable_diffusion_xl.md
  'A cat holding a sign that says hello world',
  'a photo of an astronaut riding a horse on mars',
  'cat wizard, gandalf, lord of the rings, detailed, fantasy, cute, adorable, Pixar, Disney, 8k',
  'Astronaut in a jungle, cold color palette, muted colors, detailed, 8k',
  'A majestic lion jumping from a big stone at night',
  // stabilityai/stable-diffusion-3.5-large and -large-turbo model cards
  'A capybara holding a sign that reads Hello World',
  'A capybara holding a sign that reads Hello Fast World',
];

/** Whitespace, normalisation, added tokens, unknowns and scripts the vocabulary half covers. */
const EDGE_CASES = [
  '',
  ' ',
  '   leading and   multiple   spaces   ',
  'tabs\tand\nnewlines\r\nand\u00a0nbsp\u3000ideographic',
  'ＦＵＬＬＷＩＤＴＨ ｈｅｌｌｏ，ｗｏｒｌｄ！',
  'ﬁne ﬂower ① … ™ ½ “quoted”',
  'cafe\u0301 na\u0308ive nin\u0303o café',
  'Å\u0301 Å ﾊﾞ ﾊ ﾞ',
  'emoji 🐱🚀 and Ωμέγα and ☃ unknown',
  '猫 日本の山 水 日本猫',
  '</s> in text <extra_id_0> and <extra_id_3>x</s>',
  'hello</s>world',
  '<pad><unk>',
  '8k, highly detailed!!',
  'zero\u200bwidth\u0007bell',
  '▁already▁metaspaced ▁',
  'UPPER lower MiXeD 12345 3.14',
];

/** Deterministic random strings over letters, pieces, spaces, punctuation, scripts and unknowns. */
function fuzzStrings(count: number): string[] {
  const alphabet = [
    ...'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789',
    ...'   ,.!?-\'"():;',
    'ing',
    'the ',
    ' cat',
    'horse',
    '▁',
    'é',
    'e\u0301',
    'ñ',
    '猫',
    '日本',
    'Ｆ',
    'ﬁ',
    '\t',
    '\n',
    '\u00a0',
    '🐱',
    'Ω',
    '</s>',
    '<extra_id_1>',
  ];
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state;
  };
  return Array.from({ length: count }, () => Array.from({ length: 1 + (next() % 40) }, () => alphabet[next() % alphabet.length]).join(''));
}

const ALL_TEXTS = [...PUBLISHED_PROMPTS, ...EDGE_CASES, ...fuzzStrings(300)];

async function oracleIds(oracle: Tokenizer, text: string): Promise<number[]> {
  return (await oracle.encode(text)).getIds();
}

for (const layout of ['sd3', 'legacy'] as const) {
  describe(`T5 tokenizer = HF tokenizers (${layout} tokenizer.json layout)`, () => {
    const json = t5TokenizerJson({ layout });
    const ours = T5Tokenizer.fromJson(json);
    const oracle = Tokenizer.fromString(JSON.stringify(json));

    it('the same ids, </s> appended, on published prompts, edge cases and 300 random strings', async () => {
      for (const text of ALL_TEXTS) {
        assert.deepEqual([...ours.tokenize(text), 1], await oracleIds(oracle, text), JSON.stringify(text));
      }
    });

    it('encode(text, maxLength): truncation keeps </s> last, padding with <pad> (0) to maxLength', async () => {
      for (const maxLength of [8, 77, 256]) {
        const truncating = Tokenizer.fromString(JSON.stringify(json));
        truncating.setTruncation(maxLength);
        truncating.setPadding({ maxLength, padId: 0, padToken: '<pad>' });
        for (const text of [...PUBLISHED_PROMPTS, ...EDGE_CASES]) {
          const expected = await truncating.encode(text);
          const got = ours.encodeWithLength(text, maxLength);
          assert.deepEqual([...got.ids], expected.getIds(), `${maxLength}: ${JSON.stringify(text)}`);
          assert.equal(got.length, expected.getAttentionMask().filter((m) => m === 1).length);
          assert.deepEqual([...ours.encode(text, maxLength)], [...got.ids]);
        }
      }
    });
  });
}

describe('T5 tokenizer details', () => {
  const json = t5TokenizerJson();
  const tokenizer = T5Tokenizer.fromJson(json);

  it('the long SD3 docs prompt is cut at 256 with </s> last, and says how many tokens were dropped', () => {
    const long = PUBLISHED_PROMPTS[4];
    const all = tokenizer.tokenize(long);
    assert.ok(all.length > 255, `${all.length} tokens`);
    const { ids, length, truncatedTokens } = tokenizer.encodeWithLength(long, 256);
    assert.equal(ids.length, 256);
    assert.equal(length, 256);
    assert.equal(ids[255], 1);
    assert.deepEqual([...ids.subarray(0, 255)], all.slice(0, 255));
    assert.equal(truncatedTokens, all.length - 255);
    const short = tokenizer.encodeWithLength('a cat', 256);
    assert.equal(short.truncatedTokens, 0);
    assert.equal(short.ids[short.length - 1], 1);
    assert.ok(short.ids.subarray(short.length).every((id) => id === 0));
    assert.equal(tokenizer.padTokenId, 0);
    assert.equal(tokenizer.unkTokenId, 2);
  });

  it('unknown characters become one fused <unk> (id 2) per run; added tokens map to their ids', () => {
    const ids = tokenizer.tokenize('🐱🚀');
    assert.ok(ids.includes(2));
    assert.equal(ids.filter((id) => id === 2).length, 1);
    const extra = (json.added_tokens as Array<{ id: number; content: string }>).find((t) => t.content === '<extra_id_0>');
    assert.ok(tokenizer.tokenize('a <extra_id_0> b').includes(extra?.id ?? -1));
  });

  it('byte_fallback: unknown characters become their UTF-8 bytes’ <0xNN> pieces, as HF tokenizers', async () => {
    const fallbackJson = t5TokenizerJson({ byteFallback: true });
    const ours = T5Tokenizer.fromJson(fallbackJson);
    const oracle = Tokenizer.fromString(JSON.stringify(fallbackJson));
    for (const text of ['emoji 🐱🚀 and Ωμέγα', '☃ snow', ...fuzzStrings(50)]) {
      assert.deepEqual([...ours.tokenize(text), 1], await oracleIds(oracle, text), JSON.stringify(text));
    }
    assert.ok(!ours.tokenize('🐱').includes(2));
  });

  it('equal-scoring segmentations: the one found first wins, as HF tokenizers', async () => {
    const tieJson = t5TokenizerJson();
    const vocab = (tieJson.model as { vocab: Array<[string, number]> }).vocab;
    // "▁жщ" = "▁ж" + "щ" = −4; "▁юя" = "▁ю" + "я" = −4 with the halves found first ("▁юя" is longer).
    vocab.push(['▁жщ', -4], ['▁ж', -2], ['щ', -2], ['ж', -2], ['▁ю', -2], ['я', -2], ['▁юя', -4], ['ю', -3]);
    // "ɐ" alone is unknown (min_score − 10 ≈ −22): "ɐɑ" + "ɒ" (−18) beats <unk> + "ɑɒ" (≈ −23).
    vocab.push(['ɐɑ', -9], ['ɒ', -9], ['ɑɒ', -1]);
    const ours = T5Tokenizer.fromJson(tieJson);
    const oracle = Tokenizer.fromString(JSON.stringify(tieJson));
    for (const text of ['жщ', 'юя', 'жщюя жщ юя', 'ж щ', 'ɐɑɒ', 'ɐɐɑɒ']) {
      assert.deepEqual([...ours.tokenize(text), 1], await oracleIds(oracle, text), text);
    }
    const id = (piece: string) => vocab.findIndex(([p]) => p === piece);
    assert.deepEqual(ours.tokenize('жщ'), [id('▁жщ')]);
    assert.deepEqual(ours.tokenize('ɐɑɒ'), [id('▁'), id('ɐɑ'), id('ɒ')]);
  });

  it('rejects maxLength below the special tokens', () => {
    assert.throws(() => tokenizer.encode('a cat', 0), RangeError);
    assert.equal(tokenizer.encode('a cat', 1)[0], 1);
  });
});

describe('Precompiled charsmap = HF tokenizers’ Precompiled normalizer', () => {
  const entries = sampleCharsmapEntries();
  const base64 = buildPrecompiledCharsmap(entries);
  const ours = PrecompiledCharsmap.fromBase64(base64);
  const oracle = precompiled([...Buffer.from(base64, 'base64')]);

  it('maps what the charsmap says (fullwidth → ASCII, ligatures, composition, deletions)', () => {
    assert.equal(ours.normalize('ＦＵＬＬ ｗｉｄｔｈ！'), 'FULL width!');
    assert.equal(ours.normalize('ﬁne ①'), 'fine 1');
    assert.equal(ours.normalize('cafe\u0301'), 'café');
    assert.equal(ours.normalize('zero\u200bwidth'), 'zerowidth');
    assert.equal(ours.normalize('tab\there'), 'tab here');
    assert.equal(ours.normalize('plain text stays'), 'plain text stays');
  });

  it('gives the oracle’s output on every key, on keys followed by combining marks, and on random text', () => {
    const texts = [
      ...Object.keys(entries),
      ...Object.keys(entries).map((k) => `${k}\u0301`),
      ...Object.keys(entries).map((k) => `x${k}y`),
      'Å\u0301',
      'ﾊﾞ',
      'ﾊﾞﾞ',
      ...EDGE_CASES,
      ...fuzzStrings(200),
    ];
    for (const text of texts) assert.equal(ours.normalize(text), oracle.normalizeString(text), JSON.stringify(text));
  });

  it('rejects a malformed map', () => {
    assert.throws(() => PrecompiledCharsmap.fromBase64(''), RangeError);
    assert.throws(() => PrecompiledCharsmap.fromBase64(Buffer.from([200, 0, 0, 0, 1, 2]).toString('base64')), /trie size/);
  });
});

describe('loadT5Tokenizer', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 't5-tokenizer-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('reads dir/tokenizer.json', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(t5TokenizerJson()));
    const tokenizer = await loadT5Tokenizer(dir);
    assert.deepEqual([...tokenizer.encode('a cat', 4)], [...T5Tokenizer.fromJson(t5TokenizerJson()).encode('a cat', 4)]);
  });

  it('a missing file, bad JSON, a BPE tokenizer or an unknown normalizer: a ModelError naming the file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'tokenizer.json');
    const rejects = async (pattern: RegExp) =>
      assert.rejects(loadT5Tokenizer(dir), (err: unknown) => err instanceof ModelError && err.message.includes(path) && pattern.test(err.message));
    await rejects(/missing/);
    await writeFile(path, '{ not json');
    await rejects(/not valid JSON/);
    await writeFile(path, JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } }));
    await rejects(/BPE tokenizer, not T5's Unigram/);
    await writeFile(path, JSON.stringify({ ...t5TokenizerJson(), normalizer: { type: 'BertNormalizer' } }));
    await rejects(/normalizer/);
    await writeFile(path, JSON.stringify({ ...t5TokenizerJson(), model: { type: 'Unigram', unk_id: 2, vocab: [] } }));
    await rejects(/vocab/);
  });
});

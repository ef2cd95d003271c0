// Generated T5-style tokenizer.json files for the T5 tokenizer's tests: a Unigram vocabulary of
// a few hundred pieces and a SentencePiece precompiled charsmap built here as a darts-clone
// double array (the binary format the Precompiled normalizer reads), laid out as SD3's
// tokenizer_3/tokenizer.json is (transformers' T5 converter) or as older T5 exports are.

/** A charsmap in the nmt_nfkc spirit: fullwidth → ASCII, spaces and controls, ligatures, composition. */
export function sampleCharsmapEntries(): Record<string, string> {
  const map: Record<string, string> = {
    '\t': ' ',
    '\n': ' ',
    '\r': ' ',
    '\u00a0': ' ',
    '\u3000': ' ',
    '\u2009': ' ',
    '\u200b': '',
    '\u0007': '',
    ﬁ: 'fi',
    ﬂ: 'fl',
    '①': '1',
    '…': '...',
    '™': 'TM',
    '½': '1⁄2',
    'e\u0301': 'é',
    'a\u0308': 'ä',
    'n\u0303': 'ñ',
    Å: 'Å',
    ﾊ: 'ハ',
    ﾊﾞ: 'バ',
    ﾞ: '\u3099',
    '“': '"',
    '”': '"',
  };
  for (let c = 0x21; c <= 0x7e; c++) map[String.fromCodePoint(0xff00 + c - 0x20)] = String.fromCodePoint(c);
  return map;
}

/** The base64 `precompiled_charsmap` for `entries` (key → replacement). */
export function buildPrecompiledCharsmap(entries: Record<string, string>): string {
  interface TrieNode {
    children: Map<number, TrieNode>;
    value?: number;
  }
  const encoder = new TextEncoder();
  const root: TrieNode = { children: new Map() };
  const blob: number[] = [];
  for (const [key, replacement] of Object.entries(entries)) {
    let node = root;
    for (const byte of encoder.encode(key)) {
      let next = node.children.get(byte);
      if (!next) {
        next = { children: new Map() };
        node.children.set(byte, next);
      }
      node = next;
    }
    node.value = blob.length;
    blob.push(...encoder.encode(replacement), 0);
  }

  // First-fit placement: a node at `pos` keeps its children at base ^ label (label 0: its value).
  const units: number[] = [0];
  const used = new Set<number>([0]);
  const queue: Array<[TrieNode, number]> = [[root, 0]];
  while (queue.length > 0) {
    const [node, pos] = queue.shift() as [TrieNode, number];
    const labels = [...(node.value === undefined ? [] : [0]), ...node.children.keys()];
    if (labels.length === 0) continue;
    let base = 1;
    while (labels.some((c) => used.has(base ^ c))) base++;
    const offset = pos ^ base;
    if (offset >= 1 << 21) throw new RangeError('charsmap too large for the plain offset encoding');
    units[pos] = ((units[pos] ?? 0) | (offset << 10) | (node.value === undefined ? 0 : 1 << 8)) >>> 0;
    for (const c of labels) used.add(base ^ c);
    if (node.value !== undefined) units[base] = ((1 << 31) | node.value) >>> 0;
    for (const [c, child] of node.children) {
      units[base ^ c] = c;
      queue.push([child, base ^ c]);
    }
  }
  const trie = Buffer.alloc(4 + units.length * 4);
  trie.writeUInt32LE(units.length * 4, 0);
  for (let i = 0; i < units.length; i++) trie.writeUInt32LE(units[i] ?? 0, 4 + 4 * i);
  return Buffer.concat([trie, Buffer.from(blob)]).toString('base64');
}

/** Words of published SD prompts, whole and in pieces, plus characters of several scripts. */
const WORDS = [
  'a',
  'an',
  'the',
  'of',
  'on',
  'in',
  'at',
  'and',
  'with',
  'from',
  'that',
  'says',
  'reads',
  'holding',
  'sign',
  'hello',
  'Hello',
  'world',
  'World',
  'cat',
  'cats',
  'capybara',
  'astronaut',
  'riding',
  'horse',
  'mars',
  'photo',
  'green',
  'jungle',
  'cold',
  'color',
  'palette',
  'muted',
  'colors',
  'detailed',
  'majestic',
  'lion',
  'jumping',
  'big',
  'stone',
  'night',
  'wizard',
  'gandalf',
  'lord',
  'rings',
  'fantasy',
  'cute',
  'adorable',
  'Pixar',
  'Disney',
  'portrait',
  'woman',
  'man',
  'red',
  'blue',
  'dress',
  'city',
  'street',
  'rain',
  'neon',
  'lights',
  'cinematic',
  'lighting',
  'highly',
  'painting',
  'oil',
  'canvas',
  'by',
  'greg',
  'style',
  'Fast',
  'mountain',
  'lake',
  'sunset',
  'over',
  'river',
  'forest',
  'castle',
  'café',
  'naïve',
  'über',
  'niño',
  'résumé',
  'tiny',
  'hatching',
  'egg',
  'moon',
  'waffle',
  'hippo',
  'butter',
  'creature',
  'breakfast',
  'low',
  'quality',
  'worst',
  'whimsical',
];
const SUBWORDS = [
  'ing',
  'ed',
  's',
  'er',
  'ly',
  'tion',
  'ful',
  'est',
  'ar',
  'or',
  'an',
  'en',
  'in',
  'on',
  'at',
  'ch',
  'th',
  'sh',
  'ca',
  'pi',
  'xa',
  'ra',
  'ba',
  'ast',
  'ro',
  'naut',
  'hor',
  'se',
  'gan',
  'dal',
  'f',
  'capy',
  'bar',
  'wiz',
  'ard',
  'maj',
  'es',
  'tic',
  'k',
  '8',
  '8k',
  '4k',
  'HD',
];
const SINGLES = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...',.!?-\'"():;/&+*%#@',
  ...'éèàüöñçäÅ',
  ...'猫山水日本の犬',
  'ハ',
  'バ',
];

/** A deterministic score in [-12, -1); some pieces share a score, so ties are exercised. */
function scoreOf(piece: string, index: number): number {
  let h = 2166136261;
  for (const ch of piece) h = Math.imul(h ^ (ch.codePointAt(0) ?? 0), 16777619);
  const base = -1 - ((h >>> 0) % 1100) / 100;
  return index % 7 === 0 ? Math.round(base) : base;
}

export interface T5JsonOptions {
  /** 'sd3': Precompiled + Strip + Replace, Metaspace prepend_scheme "always" (SD3's tokenizer_3);
   *  'legacy': Precompiled only, WhitespaceSplit + Metaspace add_prefix_space (2020 T5 exports). */
  layout?: 'sd3' | 'legacy';
  /** <extra_id_N> sentinel tokens appended after the vocabulary (T5 has 100). */
  extraIds?: number;
  byteFallback?: boolean;
}

/** A T5-style tokenizer.json (as a plain object) with the generated vocabulary. */
export function t5TokenizerJson({ layout = 'sd3', extraIds = 4, byteFallback = false }: T5JsonOptions = {}): Record<string, unknown> {
  const pieces = new Set<string>(['▁']);
  for (const w of WORDS) {
    pieces.add(`▁${w}`);
    if (w.length > 3) pieces.add(w);
  }
  for (const s of SUBWORDS) {
    pieces.add(s);
    pieces.add(`▁${s}`);
  }
  for (const c of SINGLES) pieces.add(c);
  for (const c of ['▁(', '▁"', '▁8k', '▁猫', '▁日本']) pieces.add(c);
  const vocab: Array<[string, number]> = [['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...[...pieces].map((p, i): [string, number] => [p, scoreOf(p, i)])];
  if (byteFallback) for (let b = 0; b < 256; b++) vocab.push([`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, -20]);
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const added = [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')];
  for (let i = 0; i < extraIds; i++) {
    added.push(special(vocab.length, `<extra_id_${extraIds - 1 - i}>`));
    vocab.push([`<extra_id_${extraIds - 1 - i}>`, 0]);
  }
  const charsmap = buildPrecompiledCharsmap(sampleCharsmapEntries());
  const normalizer =
    layout === 'sd3'
      ? {
          type: 'Sequence',
          normalizers: [
            { type: 'Precompiled', precompiled_charsmap: charsmap },
            { type: 'Strip', strip_left: false, strip_right: true },
            { type: 'Replace', pattern: { Regex: ' {2,}' }, content: '▁' },
          ],
        }
      : { type: 'Precompiled', precompiled_charsmap: charsmap };
  const metaspace =
    layout === 'sd3'
      ? { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }
      : { type: 'Metaspace', replacement: '▁', add_prefix_space: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer,
    pre_tokenizer: layout === 'sd3' ? metaspace : { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: byteFallback },
  };
}

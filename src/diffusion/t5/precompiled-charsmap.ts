// SentencePiece's precompiled normalisation map (the `Precompiled` normalizer of a tokenizer.json,
// e.g. T5's nmt_nfkc: NFKC plus whitespace and control-character rules), applied the way HF
// tokenizers applies it. The map is a darts-clone double-array trie over UTF-8 keys whose
// values index a blob of NUL-terminated replacement strings:
//   [u32 LE: trie size in bytes][trie units, u32 LE each][replacements\0replacements\0…]
// HF tokenizers walks the text by extended grapheme cluster: a cluster shorter than 6 bytes is
// looked up whole first; otherwise (or when that finds nothing) each of its characters is
// looked up on its own and kept when absent. A lookup takes the first (shortest) key of the trie
// that prefixes the chunk.

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly replacements: Uint8Array;
  private readonly graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

  private constructor(units: Uint32Array, replacements: Uint8Array) {
    this.units = units;
    this.replacements = replacements;
  }

  /** Parses the base64 `precompiled_charsmap` of a tokenizer.json; throws on a malformed map. */
  static fromBase64(base64: string): PrecompiledCharsmap {
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length < 4) throw new RangeError('precompiled_charsmap is shorter than its 4-byte header');
    const trieSize = bytes.readUInt32LE(0);
    if (trieSize % 4 !== 0 || 4 + trieSize > bytes.length) {
      throw new RangeError(`precompiled_charsmap: trie size ${trieSize} does not fit its ${bytes.length} bytes`);
    }
    const units = new Uint32Array(trieSize / 4);
    for (let i = 0; i < units.length; i++) units[i] = bytes.readUInt32LE(4 + 4 * i);
    return new PrecompiledCharsmap(units, new Uint8Array(bytes.subarray(4 + trieSize)));
  }

  normalize(text: string): string {
    let out = '';
    for (const { segment } of this.graphemes.segment(text)) {
      if (utf8.encode(segment).length < 6) {
        const whole = this.transform(segment);
        if (whole !== undefined) {
          out += whole;
          continue;
        }
      }
      for (const char of segment) out += this.transform(char) ?? char;
    }
    return out;
  }

  /** The replacement of the shortest key that prefixes `chunk`, or undefined when none does. */
  private transform(chunk: string): string | undefined {
    const index = this.firstPrefixValue(utf8.encode(chunk));
    if (index === undefined) return undefined;
    let end = index;
    while (end < this.replacements.length && this.replacements[end] !== 0) end++;
    return utf8Decoder.decode(this.replacements.subarray(index, end));
  }

  /** darts-clone's commonPrefixSearch, stopped at its first result. */
  private firstPrefixValue(key: Uint8Array): number | undefined {
    const units = this.units;
    if (units.length === 0) return undefined;
    let pos = offsetOf(units[0]);
    for (const byte of key) {
      if (byte === 0) return undefined;
      pos ^= byte;
      const unit = units[pos];
      if (unit === undefined || labelOf(unit) !== byte) return undefined;
      pos ^= offsetOf(unit);
      if (hasLeaf(unit)) {
        const leaf = units[pos];
        if (leaf === undefined) return undefined;
        return leaf & 0x7fffffff;
      }
    }
    return undefined;
  }
}

// darts-clone's unit layout: bits 0–7 label (bit 31 set on value units, so no byte matches
// them), bit 8 "has a leaf", bit 9 "offset is shifted by 8", bits 10–31 the offset.
function labelOf(unit: number): number {
  return (unit & 0x800000ff) >>> 0;
}

function hasLeaf(unit: number): boolean {
  return ((unit >>> 8) & 1) === 1;
}

function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

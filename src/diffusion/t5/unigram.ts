// The Unigram (SentencePiece) model of a tokenizer.json: the most likely segmentation of a word
// into vocabulary pieces (Viterbi over per-piece log-probabilities), as HF tokenizers'
// Unigram::encode_optimized computes it, ties and unknowns included:
// - candidates are visited by start position, then by length, and a later one replaces the
//   best path into a position only when its score is strictly higher;
// - a character no piece starts with becomes the unknown token, scored min_score − 10;
// - consecutive unknowns are fused into one unknown token (fuse_unk);
// - with byte_fallback, an unknown span becomes its UTF-8 bytes' <0xNN> pieces when all exist.

/** HF tokenizers' K_UNK_PENALTY. */
const UNKNOWN_PENALTY = 10;

export interface UnigramOptions {
  unkId: number;
  byteFallback: boolean;
}

interface BestPath {
  score: number;
  /** Where the last piece of the best path into this position starts; -1 until reached. */
  start: number;
  id: number;
}

export class UnigramModel {
  private readonly ids = new Map<string, number>();
  /** Longest piece, in code points: no candidate is longer. */
  private readonly maxPieceLength: number;
  private readonly unknownScore: number;

  constructor(
    private readonly vocab: ReadonlyArray<readonly [piece: string, score: number]>,
    private readonly options: UnigramOptions,
  ) {
    let minScore = Number.POSITIVE_INFINITY;
    let maxLength = 0;
    vocab.forEach(([piece, score], id) => {
      // A duplicated piece keeps its last id, as HF's map insertion does.
      this.ids.set(piece, id);
      if (score < minScore) minScore = score;
      maxLength = Math.max(maxLength, [...piece].length);
    });
    if (options.unkId < 0 || options.unkId >= vocab.length) throw new RangeError(`unk_id ${options.unkId} is outside the ${vocab.length}-piece vocabulary`);
    this.maxPieceLength = maxLength;
    this.unknownScore = minScore - UNKNOWN_PENALTY;
  }

  get size(): number {
    return this.vocab.length;
  }

  idOf(piece: string): number | undefined {
    return this.ids.get(piece);
  }

  /** The ids of one pre-tokenized word. */
  encode(word: string): number[] {
    const ids: number[] = [];
    for (const piece of this.segment(word)) {
      const id = this.ids.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      const bytes = this.options.byteFallback ? this.bytePieces(piece) : undefined;
      if (bytes) ids.push(...bytes);
      else ids.push(this.options.unkId);
    }
    return ids;
  }

  /** The best segmentation's pieces, unknown runs fused into one string. */
  private segment(word: string): string[] {
    const chars = Array.from(word);
    const n = chars.length;
    if (n === 0) return [];
    const best: BestPath[] = Array.from({ length: n + 1 }, () => ({ score: 0, start: -1, id: -1 }));
    for (let start = 0; start < n; start++) {
      const here = best[start].score;
      let singleCharPiece = false;
      let candidate = '';
      for (let end = start + 1; end <= Math.min(n, start + this.maxPieceLength); end++) {
        candidate += chars[end - 1];
        const id = this.ids.get(candidate);
        if (id === undefined) continue;
        const score = here + this.vocab[id][1];
        const target = best[end];
        if (target.start < 0 || score > target.score) {
          target.score = score;
          target.start = start;
          target.id = id;
        }
        if (end === start + 1) singleCharPiece = true;
      }
      if (!singleCharPiece) {
        const target = best[start + 1];
        const score = here + this.unknownScore;
        if (target.start < 0 || score > target.score) {
          target.score = score;
          target.start = start;
          target.id = this.options.unkId;
        }
      }
    }
    const pieces: string[] = [];
    let unknownRun = '';
    for (let end = n; end > 0; ) {
      const { start, id } = best[end];
      const piece = chars.slice(start, end).join('');
      if (id === this.options.unkId) {
        unknownRun = piece + unknownRun;
      } else {
        if (unknownRun) pieces.push(unknownRun);
        unknownRun = '';
        pieces.push(piece);
      }
      end = start;
    }
    if (unknownRun) pieces.push(unknownRun);
    return pieces.reverse();
  }

  private bytePieces(text: string): number[] | undefined {
    const ids: number[] = [];
    for (const byte of Buffer.from(text, 'utf8')) {
      const id = this.ids.get(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (id === undefined) return undefined;
      ids.push(id);
    }
    return ids;
  }
}

// Overlapping tiles and seam blending, shared by the tiled upscaler, tiled VAE decode and the
// tiled hires fix: cover an image with equal tiles that overlap by at least `overlap`, and
// blend each tile's output with weights that ramp up linearly across the overlap, so no seam
// shows and every pixel's weights sum to a positive number.

/** Start offsets of equal tiles of `tile` covering [0, length), neighbours overlapping ≥ `overlap`. */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (tile >= length) return [0];
  const stride = Math.max(1, tile - overlap);
  const n = Math.ceil((length - tile) / stride) + 1;
  // Spread evenly so the last tile ends exactly at the edge and overlaps stay alike.
  return Array.from({ length: n }, (_, i) => Math.round((i * (length - tile)) / (n - 1)));
}

export interface TileRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Tiles covering width×height; a side shorter than the tile gets one tile of that side. */
export function tileGrid(width: number, height: number, tile: number, overlap: number, tileHeight = tile): TileRect[] {
  const tw = Math.min(tile, width);
  const th = Math.min(tileHeight, height);
  const rects: TileRect[] = [];
  for (const y of tileStarts(height, th, overlap)) {
    for (const x of tileStarts(width, tw, overlap)) rects.push({ x, y, width: tw, height: th });
  }
  return rects;
}

/**
 * Weights along one tile side of `size` output pixels: 1 inside, ramping from ~0 to 1 over
 * `ramp` pixels at an end that touches a neighbour (`lowOpen` / `highOpen`), 1 at image borders.
 */
export function rampWeights(size: number, ramp: number, lowOpen: boolean, highOpen: boolean): Float32Array {
  const w = new Float32Array(size).fill(1);
  if (ramp <= 0) return w;
  for (let i = 0; i < size; i++) {
    let v = 1;
    if (lowOpen) v = Math.min(v, (i + 0.5) / ramp);
    if (highOpen) v = Math.min(v, (size - i - 0.5) / ramp);
    w[i] = v;
  }
  return w;
}

/**
 * Accumulates weighted planar tiles (channels × height × width) into one image and returns
 * the normalised result. Coordinates are in output pixels.
 */
export class TileBlender {
  private readonly sum: Float32Array;
  private readonly weight: Float32Array;

  constructor(
    readonly channels: number,
    readonly width: number,
    readonly height: number,
    /** Ramp length in output pixels (the overlap, scaled to the output). */
    private readonly ramp: number,
  ) {
    this.sum = new Float32Array(channels * width * height);
    this.weight = new Float32Array(width * height);
  }

  /** Adds a planar tile whose top-left output pixel is (x, y). */
  add(tile: Float32Array, x: number, y: number, tw: number, th: number): void {
    const wx = rampWeights(tw, this.ramp, x > 0, x + tw < this.width);
    const wy = rampWeights(th, this.ramp, y > 0, y + th < this.height);
    const plane = this.width * this.height;
    const tplane = tw * th;
    for (let j = 0; j < th; j++) {
      const row = (y + j) * this.width + x;
      for (let i = 0; i < tw; i++) {
        const w = wx[i] * wy[j];
        this.weight[row + i] += w;
        for (let c = 0; c < this.channels; c++) this.sum[c * plane + row + i] += w * tile[c * tplane + j * tw + i];
      }
    }
  }

  /** The blended image, planar. Pixels no tile covered stay 0. */
  result(): Float32Array {
    const plane = this.width * this.height;
    const out = this.sum;
    for (let c = 0; c < this.channels; c++) {
      for (let p = 0; p < plane; p++) {
        const w = this.weight[p];
        out[c * plane + p] = w > 0 ? out[c * plane + p] / w : 0;
      }
    }
    return out;
  }
}

/** Copies a rectangle out of a planar image. */
export function cropPlanar(src: Float32Array, channels: number, width: number, height: number, r: TileRect): Float32Array {
  const out = new Float32Array(channels * r.width * r.height);
  for (let c = 0; c < channels; c++) {
    for (let j = 0; j < r.height; j++) {
      const from = c * width * height + (r.y + j) * width + r.x;
      out.set(src.subarray(from, from + r.width), c * r.width * r.height + j * r.width);
    }
  }
  return out;
}

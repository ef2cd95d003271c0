// Where an outpainted picture's canvas and kept region lie, as pure arithmetic (no pixels).
// Zoom out by f: the picture sits in the centre of a canvas f times its size. Pan: one side is
// extended by half the picture's size along that axis. Either canvas is then scaled so that its
// area is the model's native area (what the model draws best; a bigger canvas would repeat
// things), with sides snapped to a multiple of `step`. The picture keeps its aspect ratio: it
// is scaled as large as the snapped canvas allows its layout, so the repainted border is never
// narrower than asked for.
import type { PanDirection } from './types.js';
import { MAX_SIDE, MIN_SIDE } from './validate.js';

export interface Size {
  width: number;
  height: number;
}

export interface Rect extends Size {
  left: number;
  top: number;
}

export type OutpaintOp = { kind: 'zoom'; factor: number } | { kind: 'pan'; direction: PanDirection };

/** Sides of real Stable Diffusion UNets must be multiples of 64 (three 2× downsamplings of the latents). */
export const OUTPAINT_STEP = 64;

/** The canvas in units of the source (width and height relative to the source's 1 × 1). */
function relativeCanvas(op: OutpaintOp): { w: number; h: number } {
  if (op.kind === 'zoom') return { w: op.factor, h: op.factor };
  return op.direction === 'left' || op.direction === 'right' ? { w: 1.5, h: 1 } : { w: 1, h: 1.5 };
}

const snap = (v: number, step: number) => Math.min(MAX_SIDE, Math.max(Math.max(MIN_SIDE, step), Math.round(v / step) * step));

/** The canvas for outpainting `source` by `op`: about `nativeArea` pixels, sides multiples of `step`. */
export function outpaintCanvas(source: Size, op: OutpaintOp, nativeArea: number, step = OUTPAINT_STEP): Size {
  const rel = relativeCanvas(op);
  const w = source.width * rel.w;
  const h = source.height * rel.h;
  const scale = Math.sqrt(nativeArea / (w * h));
  return { width: snap(w * scale, step), height: snap(h * scale, step) };
}

/**
 * Where the source goes on `canvas` (computed by outpaintCanvas, or any other size): as large as
 * the op's layout fits, centred for a zoom, against the side opposite the pan (centred along it).
 */
export function keptRegion(source: Size, op: OutpaintOp, canvas: Size): Rect {
  const rel = relativeCanvas(op);
  const scale = Math.min(canvas.width / (source.width * rel.w), canvas.height / (source.height * rel.h));
  const width = Math.max(1, Math.min(canvas.width, Math.round(source.width * scale)));
  const height = Math.max(1, Math.min(canvas.height, Math.round(source.height * scale)));
  const centreX = Math.floor((canvas.width - width) / 2);
  const centreY = Math.floor((canvas.height - height) / 2);
  if (op.kind === 'zoom') return { left: centreX, top: centreY, width, height };
  switch (op.direction) {
    case 'right':
      return { left: 0, top: centreY, width, height };
    case 'left':
      return { left: canvas.width - width, top: centreY, width, height };
    case 'down':
      return { left: centreX, top: 0, width, height };
    case 'up':
      return { left: centreX, top: canvas.height - height, width, height };
  }
}

/** The inpainting mask as one 8-bit plane: 255 (repaint) everywhere but the kept region (0). */
export function outpaintMask(canvas: Size, kept: Rect): Uint8Array {
  const plane = new Uint8Array(canvas.width * canvas.height).fill(255);
  for (let y = kept.top; y < kept.top + kept.height; y++) plane.fill(0, y * canvas.width + kept.left, y * canvas.width + kept.left + kept.width);
  return plane;
}

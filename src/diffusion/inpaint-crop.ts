// "Only masked" inpainting's geometry (A1111's inpaint_full_res): the mask's bounding box, padded
// and clamped to the picture, then grown to the width:height aspect ratio of the generation so
// that scaling the crop up to width×height does not distort it. Pure numbers, no pixels moved.

/** A pixel rectangle: x1, y1 inclusive; x2, y2 exclusive (PIL's box). */
export interface CropRegion {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** The smallest box holding every non-zero pixel of a width×height plane (PIL's getbbox), or undefined when there is none. */
export function maskBoundingBox(plane: ArrayLike<number>, width: number, height: number): CropRegion | undefined {
  let x1 = width;
  let y1 = height;
  let x2 = 0;
  let y2 = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (plane[row + x] === 0) continue;
      if (x < x1) x1 = x;
      if (x >= x2) x2 = x + 1;
      if (y < y1) y1 = y;
      y2 = y + 1;
    }
  }
  return x2 === 0 ? undefined : { x1, y1, x2, y2 };
}

/** The box grown by `pad` pixels on every side, clamped to the picture. */
export function padRegion(box: CropRegion, pad: number, width: number, height: number): CropRegion {
  return { x1: Math.max(box.x1 - pad, 0), y1: Math.max(box.y1 - pad, 0), x2: Math.min(box.x2 + pad, width), y2: Math.min(box.y2 + pad, height) };
}

/**
 * The region grown along its short side to the processing aspect ratio, centred on the original
 * and shifted back inside the picture where it overflows (A1111's expand_crop_region). Where the
 * picture itself is too small in that direction the region is cut at its edge.
 */
export function expandToAspect(region: CropRegion, processingWidth: number, processingHeight: number, width: number, height: number): CropRegion {
  let { x1, y1, x2, y2 } = region;
  const regionRatio = (x2 - x1) / (y2 - y1);
  const ratio = processingWidth / processingHeight;
  if (regionRatio > ratio) {
    [y1, y2] = grow(y1, y2, Math.trunc((x2 - x1) / ratio - (y2 - y1)), height);
  } else {
    [x1, x2] = grow(x1, x2, Math.trunc((y2 - y1) * ratio - (x2 - x1)), width);
  }
  return { x1, y1, x2, y2 };
}

/** One axis of expandToAspect: grow [a, b) by `diff`, half before (floored), then keep it in [0, size]. */
function grow(a: number, b: number, diff: number, size: number): [number, number] {
  const before = Math.floor(diff / 2);
  a -= before;
  b += diff - before;
  if (b >= size) {
    a -= b - size;
    b = size;
  }
  if (a < 0) {
    b -= a;
    a = 0;
  }
  return [a, Math.min(b, size)];
}

/** The crop "only masked" inpaints: bounding box, padding, aspect expansion; undefined for an empty mask. */
export function onlyMaskedRegion(plane: ArrayLike<number>, width: number, height: number, pad: number): CropRegion | undefined {
  const box = maskBoundingBox(plane, width, height);
  if (!box) return undefined;
  return expandToAspect(padRegion(box, pad, width, height), width, height, width, height);
}

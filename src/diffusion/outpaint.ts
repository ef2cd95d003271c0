// Outpainting (zoom out, pan): the input is scaled into its kept region of a larger canvas
// (outpaint-geometry.ts), the border around it is filled by mirroring the picture (a start the
// VAE encodes smoothly) and masked, and the model inpaints the border. After decoding, the
// scaled input is pasted back over its region, so every kept pixel is the input's, byte for byte,
// whatever the feathered mask blended there.
import sharp from 'sharp';
import { InputError } from './errors.js';
import { imageSize } from './image-io.js';
import { keptRegion, outpaintMask, type OutpaintOp, type Rect, type Size } from './outpaint-geometry.js';
import { encodePng, pngParameters } from './png.js';
import type { StableDiffusionPipeline } from './pipeline.js';
import type { GenerateOptions, GenerationRequest, GenerationResult } from './types.js';

/** The input scaled into its region, as packed RGB (region.width × region.height × 3). */
export async function placedSource(image: Uint8Array, region: Size): Promise<Buffer> {
  try {
    return await sharp(image, { failOn: 'error' })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .resize(region.width, region.height, { fit: 'fill', kernel: 'lanczos3' })
      .raw({ depth: 'uchar' })
      .toBuffer();
  } catch (err) {
    throw new InputError(`The input image could not be read (${(err as Error).message}). Use a PNG, JPEG or WebP file.`);
  }
}

/** Copies `rgb` (the region's pixels) into `canvasRgb` at the region. */
function paste(canvasRgb: Uint8Array, canvasWidth: number, rgb: Uint8Array, region: Rect): void {
  const row = region.width * 3;
  for (let y = 0; y < region.height; y++) canvasRgb.set(rgb.subarray(y * row, (y + 1) * row), ((region.top + y) * canvasWidth + region.left) * 3);
}

export function describeOutpaint(op: OutpaintOp): string {
  return op.kind === 'zoom' ? `Outpaint: zoom out ${op.factor}x` : `Outpaint: pan ${op.direction}`;
}

/** Outpaints `req.initImage` onto a req.width × req.height canvas. */
export async function outpaint(
  pipe: StableDiffusionPipeline,
  req: GenerationRequest & { initImage: Uint8Array },
  op: OutpaintOp,
  opts: GenerateOptions = {},
): Promise<GenerationResult> {
  const canvas = { width: req.width, height: req.height };
  const region = keptRegion(await imageSize(req.initImage), op, canvas);
  const placed = await placedSource(req.initImage, region);
  const start = await sharp(placed, { raw: { width: region.width, height: region.height, channels: 3 } })
    .extend({
      top: region.top,
      bottom: canvas.height - region.top - region.height,
      left: region.left,
      right: canvas.width - region.left - region.width,
      extendWith: 'mirror',
    })
    .png({ compressionLevel: 1 })
    .toBuffer();
  const mask = await sharp(outpaintMask(canvas, region), { raw: { width: canvas.width, height: canvas.height, channels: 1 } })
    .png({ compressionLevel: 1 })
    .toBuffer();
  const { edit: _edit, ...plain } = req;
  const result = await pipe.generate(
    {
      ...plain,
      initImage: start,
      mask,
      // A feathered edge blends the new border into the mirrored start; the paste below restores the inside.
      maskBlur: req.maskBlur ?? Math.max(1, Math.round(Math.min(canvas.width, canvas.height) / 64)),
      strength: req.strength ?? 1,
    },
    opts,
  );
  const images = await Promise.all(
    result.images.map(async (image) => {
      const rgb = new Uint8Array(await sharp(image.png).removeAlpha().raw().toBuffer());
      paste(rgb, canvas.width, placed, region);
      const params = pngParameters(image.png);
      const png = await encodePng(rgb, canvas.width, canvas.height, params ? `${params}, ${describeOutpaint(op)}` : undefined);
      return { ...image, png };
    }),
  );
  return { ...result, images };
}

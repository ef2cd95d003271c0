// Reads what generateImages returned: images become PNGs like the local engine's (decoded with
// sharp, re-encoded with the "parameters" text chunk), withheld ones become {index, reason}.
import sharp from 'sharp';
import { z } from 'zod';
import { encodePng } from '../diffusion/png.js';
import { ProviderError } from './types.js';

const generatedImageSchema = z.object({
  image: z.object({ imageBytes: z.string().optional(), mimeType: z.string().optional() }).optional(),
  raiFilteredReason: z.string().optional(),
});

const responseSchema = z.object({ generatedImages: z.array(generatedImageSchema).optional() });

export type ImagenSlot = { kind: 'image'; bytes: Buffer } | { kind: 'filtered'; reason: string };

/** Reason given for a requested image that is simply missing from the reply. */
export const SILENTLY_WITHHELD = 'withheld by Google without a reason';

function malformed(detail: string, cause?: unknown): ProviderError {
  return new ProviderError({
    kind: 'malformed',
    retryable: false,
    userMessage: 'Imagen sent back a reply the bot could not read.',
    message: `Malformed Imagen response: ${detail}`,
    cause,
  });
}

/** One entry per requested image of a call, in order: the image's bytes or why it is missing. */
export function readImagenResponse(response: unknown, requested: number): ImagenSlot[] {
  const parsed = responseSchema.safeParse(response);
  if (!parsed.success) throw malformed(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const slots: ImagenSlot[] = [];
  for (const entry of parsed.data.generatedImages ?? []) {
    const b64 = entry.image?.imageBytes;
    if (b64) slots.push({ kind: 'image', bytes: Buffer.from(b64, 'base64') });
    else if (entry.raiFilteredReason) slots.push({ kind: 'filtered', reason: entry.raiFilteredReason });
    else throw malformed('an entry has neither image bytes nor a filter reason');
  }
  while (slots.length < requested) slots.push({ kind: 'filtered', reason: SILENTLY_WITHHELD });
  return slots.slice(0, requested);
}

export interface DecodedImage {
  rgb: Buffer;
  width: number;
  height: number;
}

export async function decodeImage(bytes: Buffer): Promise<DecodedImage> {
  try {
    const { data, info } = await sharp(bytes).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion`);
    return { rgb: data, width: info.width, height: info.height };
  } catch (err) {
    throw malformed(`image bytes do not decode (${err instanceof Error ? err.message : String(err)})`, err);
  }
}

/** The local engine's PNG: same encoder settings, same "parameters" chunk. */
export async function toLocalStylePng(bytes: Buffer, parameters: (width: number, height: number) => string) {
  const img = await decodeImage(bytes);
  const png = await encodePng(img.rgb, img.width, img.height, parameters(img.width, img.height));
  return { png, width: img.width, height: img.height };
}

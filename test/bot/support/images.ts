// Image checks for bot tests: what a Discord user would notice (size, format, layout).
import sharp from 'sharp';
import type { ViewAttachment, ViewMessage } from '../../support/discord/index.js';

export interface DecodedAttachment {
  attachment: ViewAttachment;
  format: string | undefined;
  width: number;
  height: number;
}

/** Every attachment of the message, decoded (throws if one is not an image). */
export async function decodeAll(m: ViewMessage): Promise<DecodedAttachment[]> {
  return Promise.all(
    m.attachments.map(async (attachment) => {
      const meta = await sharp(attachment.bytes).metadata();
      return { attachment, format: meta.format, width: meta.width ?? 0, height: meta.height ?? 0 };
    }),
  );
}

/** PNG attachments of exactly this size, in message order. */
export async function pngsOfSize(m: ViewMessage, width: number, height: number): Promise<Buffer[]> {
  return (await decodeAll(m)).filter((d) => d.format === 'png' && d.width === width && d.height === height).map((d) => d.attachment.bytes);
}

async function tiny(png: Buffer, side: number): Promise<Buffer> {
  return sharp(png).resize(side, side, { fit: 'fill' }).removeAlpha().raw().toBuffer();
}

/** Mean absolute difference per channel (0–255) after shrinking both images to side×side. */
export async function layoutDistance(a: Buffer, b: Buffer, side = 8): Promise<number> {
  const [x, y] = await Promise.all([tiny(a, side), tiny(b, side)]);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i]);
  return sum / x.length;
}

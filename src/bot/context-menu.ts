// The message context-menu commands (Edit image…, Vary this image): which image of a message
// they work on, the size a job from it gets, the region presets' masks, and the hand-over to
// the queue, the same way /imagine does it (defer, parse with the server's limits and the
// user's defaults, admission, download through the same checks, submit; refusals ephemeral).
import type { Attachment, Message, RepliableInteraction } from 'discord.js';
import sharp from 'sharp';
import type { MessageSource } from '../jobs/types.js';
import { formatSize, SIZE_STEP } from '../jobs/sizes.js';
import type { BotContext } from './context.js';
import { parseImagineOptions, type AttachmentInfo, type RawImagineOptions } from './imagine-options.js';
import { fetchInputImage } from './input-image.js';
import { limitsFor } from './limits.js';
import { personalDefaults } from './prefs.js';
import { refuseDeferred } from './refusal.js';
import { shortPrompt } from './render.js';
import { preflight, requesterOf, submitJob } from './submit.js';

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

/** An image attachment of a message, with the size Discord reports for it. */
export interface MessageImage extends AttachmentInfo {
  width?: number;
  height?: number;
}

const isImage = (a: Pick<Attachment, 'contentType'>) => a.contentType !== null && IMAGE_TYPES.includes(a.contentType.split(';')[0].trim());

/**
 * The image a command on `message` works on: its first image attachment, except that on the
 * bot's grids (`grid.png` followed by the single images) it is the first single image.
 */
export function imageOf(message: Pick<Message, 'attachments'>): MessageImage | undefined {
  const images = [...message.attachments.values()].filter(isImage);
  const pick = images.find((a) => !/^(SPOILER_)?grid\./.test(a.name)) ?? images[0];
  if (!pick) return undefined;
  return {
    url: pick.url,
    name: pick.name,
    contentType: pick.contentType,
    size: pick.size,
    ...(pick.width ? { width: pick.width } : {}),
    ...(pick.height ? { height: pick.height } : {}),
  };
}

/** The prompt a message suggests: the bot's own results start with it in bold; a person's message is its text. */
export function promptOf(message: Pick<Message, 'content'> & { author: { id: string } }, botId: string): string {
  const text = message.content ?? '';
  if (message.author.id === botId) {
    const bold = /^\*\*(.+?)\*\*/s.exec(text);
    // The bot escaped it for display (escape.ts): undo the backslashes.
    return bold ? bold[1].replace(/\\(.)/g, '$1').trim() : '';
  }
  return text
    .replace(/<(@[!&]?|#)\d+>/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 1500);
}

/** The picture's aspect ratio at about the model's native area, sides multiples of 64, within the server's largest side. */
export function sizeFor(image: { width?: number; height?: number }, base: number, maxSide: number): string {
  const w = image.width ?? base;
  const h = image.height ?? base;
  const scale = Math.sqrt((base * base) / (w * h));
  let width = Math.max(SIZE_STEP, Math.round((w * scale) / SIZE_STEP) * SIZE_STEP);
  let height = Math.max(SIZE_STEP, Math.round((h * scale) / SIZE_STEP) * SIZE_STEP);
  const longest = Math.max(width, height);
  if (longest > maxSide) {
    width = Math.max(SIZE_STEP, Math.floor((width * maxSide) / longest / SIZE_STEP) * SIZE_STEP);
    height = Math.max(SIZE_STEP, Math.floor((height * maxSide) / longest / SIZE_STEP) * SIZE_STEP);
  }
  return formatSize({ width, height });
}

export const REGIONS = {
  centre: 'Centre',
  left_half: 'Left half',
  right_half: 'Right half',
  top_half: 'Top half',
  bottom_half: 'Bottom half',
  all_but_centre: 'Everything but the centre',
} as const;
export type Region = keyof typeof REGIONS;

export function isRegion(v: string): v is Region {
  return Object.hasOwn(REGIONS, v);
}

/**
 * A mask for a region preset: a 4×4 grid, white where it repaints, stretched onto the input by
 * the engine (any mask size fits any image). The centre is the middle half of each side.
 */
export async function regionMask(region: Region): Promise<Buffer> {
  const side = 4;
  const px = Buffer.alloc(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const centre = x >= 1 && x <= 2 && y >= 1 && y <= 2;
      const white = {
        centre,
        left_half: x < 2,
        right_half: x >= 2,
        top_half: y < 2,
        bottom_half: y >= 2,
        all_but_centre: !centre,
      }[region];
      px[y * side + x] = white ? 255 : 0;
    }
  }
  return sharp(px, { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toBuffer();
}

export interface ImageJobRequest {
  image: MessageImage;
  prompt: string;
  source: MessageSource;
  /** Edit image…: a mask the user uploaded (checked like /imagine's), or a region preset's. */
  uploadedMask?: AttachmentInfo;
  regionMask?: Buffer;
}

/**
 * Queues an image-to-image (or inpainting) job from a message's image, answering on `i`, which
 * must already be deferred (publicly): the result comes as a reply to it, like /imagine's.
 */
export async function submitImageJob(i: RepliableInteraction, ctx: BotContext, req: ImageJobRequest, messageId?: string, stealth = false): Promise<void> {
  const refuse = (message: string) => refuseDeferred(i, message);
  const limits = limitsFor(i.guildId, ctx.config, ctx.settings);
  const personal = personalDefaults(ctx, i.user.id, i.guildId);
  const chosen = ctx.catalog.lookup(personal.model ?? limits.defaultModel);
  const fallback = chosen.ok ? chosen : ctx.catalog.lookup();
  const base = fallback.ok ? fallback.model.defaults.width : 512;
  const inpaint = req.uploadedMask !== undefined || req.regionMask !== undefined;
  const raw: RawImagineOptions = {
    prompt: req.prompt,
    size: sizeFor(req.image, base, limits.maxSide),
    image: req.image,
    ...(req.uploadedMask ? { mask: req.uploadedMask } : {}),
    // Variations use the owner's variation strength (as V does); inpainting repaints the masked part from noise.
    strength: inpaint ? 1 : ctx.config.variationStrength,
  };
  const parsed = parseImagineOptions(raw, limits, ctx.catalog, personal);
  if (!parsed.ok) return refuse(parsed.message.replace('That /imagine', 'That'));
  const { model, request, mask } = parsed.params;
  const requester = requesterOf(i);
  const checked = preflight(ctx, { kind: 'img2img', model: model.name, request, requester });
  if (!checked.ok) return refuse(checked.message);
  const initImage = await fetchInputImage(ctx, req.image.url, 'image');
  if (typeof initImage === 'string') return refuse(initImage);
  let maskImage: Uint8Array | undefined = req.regionMask;
  if (mask) {
    const fetched = await fetchInputImage(ctx, mask.url, 'mask');
    if (typeof fetched === 'string') return refuse(fetched);
    maskImage = fetched;
  }
  const outcome = await submitJob(
    ctx,
    {
      kind: 'img2img',
      model: model.name,
      request,
      initImage,
      ...(maskImage ? { maskImage } : {}),
      requester,
      source: req.source,
      ...(stealth ? { stealth } : {}),
      interaction: { applicationId: i.applicationId, token: i.token, createdAt: i.createdTimestamp },
      ...(messageId && !stealth ? { messageId } : {}),
    },
    { uploadLimit: i.attachmentSizeLimit },
  );
  if (!outcome.ok) await refuse(`**${shortPrompt(request.prompt)}**\n${outcome.message}`);
}

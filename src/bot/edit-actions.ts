// The tools under a single image (edit-catalog.ts): each click builds a new job from the clicked
// image (read from the durable store, so it works after a restart) and posts it like U/V do
// (edit-post.ts: the same admission, quotas and progress display). The job belongs to the server
// it was asked for in (job-access.ts): a click anywhere else finds nothing, and Custom Zoom's
// modal is only opened, prefilled with the prompt, once the job was found here.
import { LabelBuilder, MessageFlags, ModalBuilder, TextInputBuilder, TextInputStyle, type ButtonInteraction, type ModalSubmitInteraction } from 'discord.js';
import { z } from 'zod';
import { HIRES_DEFAULT_STRENGTH, HIRES_MAX_SIDE } from '../diffusion/hires-fix.js';
import { gridSizeForImage, imageSize } from '../diffusion/image-prep.js';
import { outpaintCanvas, type OutpaintOp } from '../diffusion/outpaint-geometry.js';
import type { ImageEdit } from '../diffusion/types.js';
import { MAX_SIDE, MAX_ZOOM_OUT } from '../diffusion/validate.js';
import type { JobRecord, JobSpec } from '../queue/types.js';
import type { BotContext } from './context.js';
import { encodeCustomId, type ButtonRef } from './custom-id.js';
import { editTitle, PAN_OF, ZOOM_OF, type EditAction } from './edit-catalog.js';
import { GONE, postDerivedJob, tellClicker, type ClickInteraction } from './edit-post.js';
import { randomSeed } from './imagine-options.js';
import { callerOf, jobForCaller } from './job-access.js';
import { requesterOf } from './submit.js';
import { remixOrSubmit } from './remix.js';

export type EditRef = ButtonRef & { action: EditAction };

/** What the clicker may change before the job is queued (Custom Zoom's modal; the Remix form). */
export interface EditOverrides {
  prompt?: string;
  negativePrompt?: string;
  /** Custom Zoom's factor, 1–2. */
  zoomFactor?: number;
}

/** The clicked image, checked: stored, shown (not withheld by the safety checker), and its size. */
interface EditSource {
  parent: JobRecord;
  index: number;
  image: Buffer;
  size: { width: number; height: number };
  /** The image's own seed (a cloud image has none: the request's). */
  seed: number;
}

export const CUSTOM_ZOOM_INPUTS = { prompt: 'prompt', zoom: 'zoom' } as const;

const zoomFactorSchema = z.coerce
  .number({ error: 'The zoom factor must be a number between 1 and 2, such as 1.5.' })
  .min(1, 'The zoom factor must be between 1 and 2.')
  .max(MAX_ZOOM_OUT, `The zoom factor must be between 1 and ${MAX_ZOOM_OUT}.`)
  // Two decimals are plenty, and keep lineage titles short ("Zoom Out 1.25×").
  .transform((v) => Math.round(v * 100) / 100);

const promptSchema = z.string().trim().min(1, 'The prompt cannot be empty.').max(4000, 'The prompt is too long (4000 characters at most).');

export async function handleEditButton(i: ButtonInteraction, ref: EditRef, ctx: BotContext): Promise<void> {
  if (ref.action === 'zoom_custom') return showCustomZoom(i, ref, ctx);
  // With remix on, Vary opens the prompt form first; its submit comes back to startVary (router.ts).
  if (ref.action === 'vary_subtle' || ref.action === 'vary_strong') return remixOrSubmit(i, ref, ctx, () => startVary(i, ref, ctx));
  return startEdit(i, ref, ctx);
}

/**
 * Vary (Subtle) / Vary (Strong): image-to-image of the clicked image at the owner's strengths
 * (VARY_SUBTLE_STRENGTH, VARY_STRONG_STRENGTH). The one entry point for both, so a Remix modal
 * can call it with the edited prompt and negative prompt (`overrides`).
 */
export function startVary(i: ClickInteraction, ref: EditRef, ctx: BotContext, overrides: EditOverrides = {}): Promise<void> {
  return startEdit(i, ref, ctx, overrides);
}

/** Custom Zoom: a modal with the prompt and the factor; its submit comes back to handleEditModal. */
async function showCustomZoom(i: ButtonInteraction, ref: EditRef, ctx: BotContext): Promise<void> {
  const parent = jobForCaller((id) => ctx.queue.get(id), ref.jobId, callerOf(i));
  if (!parent) {
    await i.deferUpdate();
    return tellClicker(i, GONE);
  }
  const prompt = new TextInputBuilder()
    .setCustomId(CUSTOM_ZOOM_INPUTS.prompt)
    .setStyle(TextInputStyle.Paragraph)
    .setMaxLength(4000)
    .setRequired(true)
    .setValue(parent.request.prompt.slice(0, 4000));
  const zoom = new TextInputBuilder()
    .setCustomId(CUSTOM_ZOOM_INPUTS.zoom)
    .setStyle(TextInputStyle.Short)
    .setMaxLength(8)
    .setRequired(true)
    .setPlaceholder('between 1 and 2, e.g. 1.5')
    .setValue('1.5');
  const modal = new ModalBuilder()
    .setCustomId(encodeCustomId(ref))
    .setTitle(`Custom Zoom of image ${ref.index + 1}`)
    .addLabelComponents(
      new LabelBuilder().setLabel('Prompt').setTextInputComponent(prompt),
      new LabelBuilder().setLabel('Zoom out by (1–2)').setTextInputComponent(zoom),
    );
  await i.showModal(modal);
}

/** Custom Zoom's modal was submitted. */
export async function handleEditModal(i: ModalSubmitInteraction, ref: EditRef, ctx: BotContext): Promise<void> {
  await (i.isFromMessage() ? i.deferUpdate() : i.deferReply({ flags: MessageFlags.Ephemeral }));
  const factor = zoomFactorSchema.safeParse(i.fields.getTextInputValue(CUSTOM_ZOOM_INPUTS.zoom));
  const prompt = promptSchema.safeParse(i.fields.getTextInputValue(CUSTOM_ZOOM_INPUTS.prompt));
  const problems = [...(factor.success ? [] : factor.error.issues), ...(prompt.success ? [] : prompt.error.issues)].map((x) => x.message);
  if (!factor.success || !prompt.success) {
    ctx.log.info({ jobId: ref.jobId, problems }, 'custom zoom refused');
    return tellClicker(i, `⚠️ ${problems.join(' ')}`);
  }
  return startEdit(i, ref, ctx, { prompt: prompt.data, zoomFactor: factor.data });
}

/** Any tool: the clicked image, the new job's spec, then admission and the new message. */
async function startEdit(i: ClickInteraction, ref: EditRef, ctx: BotContext, overrides: EditOverrides = {}): Promise<void> {
  if (!i.deferred && !i.replied) await i.deferUpdate();
  const parent = jobForCaller((id) => ctx.queue.get(id), ref.jobId, callerOf(i));
  if (!parent) return tellClicker(i, GONE);
  const source = await sourceOf(parent, ref, ctx);
  if (typeof source === 'string') return tellClicker(i, source);
  const spec = editSpec(ref.action, source, requesterOf(i), ctx, overrides);
  if (typeof spec === 'string') return tellClicker(i, spec);
  await postDerivedJob(i, spec, `${editTitle(ref.action, spec.request.edit)} of image ${ref.index + 1}`, ctx);
}

async function sourceOf(parent: JobRecord, ref: EditRef, ctx: BotContext): Promise<EditSource | string> {
  if (parent.state !== 'done') return 'That job has no images yet.';
  const image = (await ctx.queue.outputs(parent.id))[ref.index];
  if (!image) return GONE;
  // A withheld image stays withheld: nothing is made from it.
  if ((await ctx.safety.verdictOf(parent, ref.index)) === 'block') {
    return `Image ${ref.index + 1} was withheld (the safety checker flagged it), so nothing can be made from it.`;
  }
  const size = await imageSize(image).catch(() => undefined);
  if (!size) return GONE;
  const known = parent.seeds[ref.index];
  const seed = known !== undefined && known >= 0 ? known : Math.max(0, parent.request.seed) + ref.index;
  return { parent, index: ref.index, image, size, seed };
}

const snap8 = (v: number) => Math.max(64, Math.round(v / 8) * 8);

/** The parent's request as a base for the new one: its own edit, strength and mask stay behind. */
function baseRequest(parent: JobRecord, overrides: EditOverrides): JobSpec['request'] {
  const { edit: _e, strength: _s, mask: _m, maskBlur: _b, maskInvert: _v, inpaintArea: _a, inpaintPadding: _p, inpaintingFill: _f, ...rest } = parent.request;
  return {
    ...rest,
    ...(overrides.prompt !== undefined ? { prompt: overrides.prompt } : {}),
    ...(overrides.negativePrompt !== undefined ? { negativePrompt: overrides.negativePrompt || undefined } : {}),
    count: 1,
  };
}

/** The op an outpainting tool asks for, if it is one. */
function outpaintOp(action: EditAction, overrides: EditOverrides): OutpaintOp | undefined {
  const pan = PAN_OF[action];
  if (pan) return { kind: 'pan', direction: pan };
  const factor = action === 'zoom_custom' ? overrides.zoomFactor : ZOOM_OF[action];
  return factor !== undefined ? { kind: 'zoom', factor } : undefined;
}

/** The new job's spec, or a sentence saying why there is none. */
function editSpec(
  action: EditAction,
  src: EditSource,
  requester: JobSpec['requester'],
  ctx: BotContext,
  overrides: EditOverrides,
): Omit<JobSpec, 'messageId'> | string {
  const { parent } = src;
  const lineage = { jobId: parent.id, imageIndex: src.index, action };
  const base = { model: parent.model, requester, parent: lineage };
  const request = baseRequest(parent, overrides);
  const tooBig = `This image is already ${src.size.width}×${src.size.height}; the bot enlarges images up to ${MAX_SIDE} pixels a side.`;

  if (action === 'upscale_subtle') {
    // The upscaler network (UPSCALER) or Lanczos, 2×: the same job as U.
    if (Math.max(src.size.width, src.size.height) > MAX_SIDE) return tooBig;
    return {
      ...base,
      kind: 'upscale',
      request: { ...request, width: snap8(src.size.width), height: snap8(src.size.height), seed: src.seed },
      initImage: src.image,
      upscaleFactor: 2,
    };
  }

  // Everything else redraws with the model: it must be here and take input images.
  const found = ctx.catalog.lookup(parent.model);
  if (!found.ok) return found.message;
  if (!found.model.canImg2Img) return `The model ${parent.model} has no VAE encoder, so it cannot start from an image.`;
  const nativeArea = found.model.defaults.width * found.model.defaults.height;

  if (action === 'upscale_creative') {
    // Hires fix at 2×: its request holds the input's size (the engine doubles it, in tiles when large).
    const side = Math.max(src.size.width, src.size.height);
    if (side > MAX_SIDE || side * 2 > HIRES_MAX_SIDE) return tooBig;
    const edit: ImageEdit = { kind: 'hires', scale: 2 };
    return {
      ...base,
      kind: 'img2img',
      request: { ...request, width: snap8(src.size.width), height: snap8(src.size.height), seed: src.seed, strength: HIRES_DEFAULT_STRENGTH, edit },
      initImage: src.image,
    };
  }

  if (action === 'vary_subtle' || action === 'vary_strong') {
    const strength = action === 'vary_subtle' ? ctx.config.varyStrength.subtle : ctx.config.varyStrength.strong;
    // At the model's native area, the image's aspect ratio kept (a U result is twice that).
    return {
      ...base,
      kind: 'img2img',
      request: { ...request, ...gridSizeForImage(src.size, nativeArea), seed: randomSeed(1), strength },
      initImage: src.image,
    };
  }

  const op = outpaintOp(action, overrides);
  if (!op) return 'That tool needs a zoom factor; use the Custom Zoom button again.';
  return {
    ...base,
    kind: 'img2img',
    request: { ...request, ...outpaintCanvas(src.size, op, nativeArea), seed: randomSeed(1), strength: 1, edit: op },
    initImage: src.image,
  };
}

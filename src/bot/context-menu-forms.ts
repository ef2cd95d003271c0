// The forms behind the message context-menu commands. "Edit image…" always asks (prompt, region
// preset, optional mask upload: Discord's file-upload modal component); "Vary this image" asks
// for the prompt only when remix is on or the message suggests none. The image itself is kept
// in pending_edits (src/store/pending-edits.ts) under the id the form's custom_id carries
// (`edt:<id>`, `vry:<id>`), so a form submitted after a restart still works; it is found only
// for the user who opened it, in the guild they opened it in.
import {
  FileUploadBuilder,
  LabelBuilder,
  ModalBuilder,
  StringSelectMenuBuilder,
  StringSelectMenuOptionBuilder,
  TextInputBuilder,
  TextInputStyle,
  MessageFlags,
  type Attachment,
  type MessageContextMenuCommandInteraction,
  type ModalSubmitInteraction,
} from 'discord.js';
import { z } from 'zod';
import type { BotContext } from './context.js';
import { imageOf, isRegion, promptOf, regionMask, REGIONS, submitImageJob, type MessageImage, type Region } from './context-menu.js';
import { PROMPT_MAX, type AttachmentInfo } from './imagine-options.js';
import { answerEphemeral, refuseDeferred } from './refusal.js';
import { stealthFor } from './prefs.js';
import type { PendingEdit } from '../store/pending-edits.js';

export const FORM_FIELDS = { prompt: 'prompt', region: 'region', mask: 'mask' } as const;
export type FormKind = 'edit' | 'vary';
const PREFIX: Record<FormKind, string> = { edit: 'edt:', vary: 'vry:' };
const NO_IMAGE = 'That message has no PNG, JPEG or WebP image to work on.';
const GONE = 'This form has expired (or belongs to someone else); run the command on the message again.';

/** Which form a custom_id names, or undefined when it is not one of these. */
export function parseFormId(customId: string): { kind: FormKind; id: string } | undefined {
  const m = /^(edt|vry):([0-9a-f-]{36})$/.exec(customId);
  if (!m) return undefined;
  return { kind: m[1] === 'edt' ? 'edit' : 'vary', id: m[2] };
}

function promptInput(prefill: string): TextInputBuilder {
  const input = new TextInputBuilder().setCustomId(FORM_FIELDS.prompt).setStyle(TextInputStyle.Paragraph).setRequired(true).setMaxLength(PROMPT_MAX);
  if (prefill) input.setValue(prefill.slice(0, PROMPT_MAX));
  return input;
}

function editModal(id: string, prefill: string): ModalBuilder {
  const regions = new StringSelectMenuBuilder()
    .setCustomId(FORM_FIELDS.region)
    .setRequired(false)
    .addOptions(
      Object.entries(REGIONS).map(([value, label]) =>
        new StringSelectMenuOptionBuilder()
          .setValue(value)
          .setLabel(label)
          .setDefault(value === 'centre'),
      ),
    );
  const mask = new FileUploadBuilder().setCustomId(FORM_FIELDS.mask).setRequired(false).setMaxValues(1);
  return new ModalBuilder()
    .setCustomId(`${PREFIX.edit}${id}`)
    .setTitle('Edit image')
    .addLabelComponents(
      new LabelBuilder().setLabel('What to paint there').setTextInputComponent(promptInput(prefill)),
      new LabelBuilder().setLabel('Region to repaint').setDescription('Used when no mask is uploaded').setStringSelectMenuComponent(regions),
      new LabelBuilder().setLabel('Mask (optional)').setDescription('White repaints, black keeps; any size').setFileUploadComponent(mask),
    );
}

function varyModal(id: string, prefill: string): ModalBuilder {
  return new ModalBuilder()
    .setCustomId(`${PREFIX.vary}${id}`)
    .setTitle('Vary this image')
    .addLabelComponents(new LabelBuilder().setLabel('Prompt for the variation').setTextInputComponent(promptInput(prefill)));
}

function remember(ctx: BotContext, i: MessageContextMenuCommandInteraction, image: MessageImage): PendingEdit {
  return ctx.pendingEdits.add({
    userId: i.user.id,
    guildId: i.guildId!,
    channelId: i.channelId,
    messageId: i.targetMessage.id,
    authorId: i.targetMessage.author.id,
    imageUrl: image.url,
    ...(image.width ? { width: image.width } : {}),
    ...(image.height ? { height: image.height } : {}),
  });
}

/** "Edit image…": the form. */
export async function openEditForm(i: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const image = imageOf(i.targetMessage);
  if (!image) return answerEphemeral(i, NO_IMAGE);
  const pending = remember(ctx, i, image);
  await i.showModal(editModal(pending.id, promptOf(i.targetMessage, i.client.user.id)));
}

/** "Vary this image": at once, or through the form when remix is on or there is no prompt to reuse. */
export async function varyImage(i: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const image = imageOf(i.targetMessage);
  if (!image) return answerEphemeral(i, NO_IMAGE);
  const prompt = promptOf(i.targetMessage, i.client.user.id);
  if (!prompt || ctx.prefs.get(i.user.id).remix) {
    const pending = remember(ctx, i, image);
    return void (await i.showModal(varyModal(pending.id, prompt)));
  }
  const stealth = stealthFor(ctx, i.user.id, i.guildId);
  const response = await i.deferReply({ withResponse: true, ...(stealth ? { flags: MessageFlags.Ephemeral } : {}) });
  const source = { action: 'vary_message', channelId: i.channelId, messageId: i.targetMessage.id, authorId: i.targetMessage.author.id };
  await submitImageJob(i, ctx, { image, prompt, source }, response.resource?.message?.id, stealth);
}

const promptSchema = z.string().trim().min(1, 'The prompt must not be empty.').max(PROMPT_MAX, `The prompt must be at most ${PROMPT_MAX} characters.`);

/** A submitted Edit image… or Vary this image form. */
export async function handleForm(i: ModalSubmitInteraction, form: { kind: FormKind; id: string }, ctx: BotContext): Promise<void> {
  const stealth = stealthFor(ctx, i.user.id, i.guildId);
  const response = await i.deferReply({ withResponse: true, ...(stealth ? { flags: MessageFlags.Ephemeral } : {}) });
  const refuse = (message: string) => refuseDeferred(i, message);
  const pending = ctx.pendingEdits.take(form.id, i.user.id, i.guildId ?? '');
  if (!pending) return refuse(GONE);
  let prompt: string;
  try {
    const parsed = promptSchema.safeParse(i.fields.getTextInputValue(FORM_FIELDS.prompt));
    if (!parsed.success) return refuse(parsed.error.issues.map((x) => x.message).join(' '));
    prompt = parsed.data;
  } catch {
    return refuse('This form is from an older version of the bot; run the command again.');
  }
  const image: MessageImage = {
    url: pending.imageUrl,
    name: 'image',
    // Checked when the command ran (imageOf); the download checks the bytes again.
    contentType: 'image/png',
    size: 0,
    ...(pending.width ? { width: pending.width } : {}),
    ...(pending.height ? { height: pending.height } : {}),
  };
  const source = {
    action: form.kind === 'edit' ? 'edit_image' : 'vary_message',
    channelId: pending.channelId,
    messageId: pending.messageId,
    authorId: pending.authorId,
  };
  const messageId = response.resource?.message?.id;
  if (form.kind === 'vary') return submitImageJob(i, ctx, { image, prompt, source }, messageId, stealth);

  let uploaded: Attachment | undefined;
  try {
    uploaded = i.fields.getUploadedFiles(FORM_FIELDS.mask)?.first();
  } catch {
    uploaded = undefined;
  }
  if (uploaded) {
    const mask: AttachmentInfo = { url: uploaded.url, name: uploaded.name, contentType: uploaded.contentType, size: uploaded.size };
    return submitImageJob(i, ctx, { image, prompt, source, uploadedMask: mask }, messageId, stealth);
  }
  let picked = 'centre';
  try {
    picked = i.fields.getStringSelectValues(FORM_FIELDS.region)[0] ?? 'centre';
  } catch {
    // Nothing picked: the default region.
  }
  const region: Region = isRegion(picked) ? picked : 'centre';
  return submitImageJob(i, ctx, { image, prompt, source: { ...source, region }, regionMask: await regionMask(region) }, messageId, stealth);
}

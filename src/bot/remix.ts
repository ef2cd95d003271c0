// Remix: with the switch on (/prefs set remix:true), 🔄 and V (and any other tool wired through
// remixOrSubmit) first open a modal prefilled with the job's prompt and negative prompt; the job
// is queued only when the edited form comes back. The modal's custom_id is the button's own,
// prefixed (`rmx:img:V:<jobId>:<index>`), so nothing is kept in memory: a form submitted after
// a restart still works, and its job is looked up only in the guild it is submitted in.
import { LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle, type ButtonInteraction, type ModalSubmitInteraction } from 'discord.js';
import { z } from 'zod';
import type { JobSpec } from '../queue/types.js';
import type { BotContext } from './context.js';
import { encodeCustomId, MAX_CUSTOM_ID_LENGTH, parseCustomId, type ButtonRef } from './custom-id.js';
import { NEGATIVE_MAX, PROMPT_MAX } from './imagine-options.js';
import { callerOf, jobForCaller } from './job-access.js';
import { remixOn } from './prefs.js';

const PREFIX = 'rmx:';
export const REMIX_PROMPT_FIELD = 'prompt';
export const REMIX_NEGATIVE_FIELD = 'negative';

/** The edited prompt a remix form brings back. */
export interface RemixEdit {
  prompt: string;
  negativePrompt?: string;
}

const editSchema = z.object({
  prompt: z.string().trim().min(1, 'The prompt must not be empty.').max(PROMPT_MAX, `The prompt must be at most ${PROMPT_MAX} characters.`),
  negative: z.string().trim().max(NEGATIVE_MAX, `The negative prompt must be at most ${NEGATIVE_MAX} characters.`),
});

export function encodeRemixId(ref: ButtonRef): string {
  return `${PREFIX}${encodeCustomId(ref)}`;
}

/** The button a remix form belongs to, or undefined when the custom_id is not a remix form's. */
export function parseRemixId(customId: string): ButtonRef | undefined {
  if (!customId.startsWith(PREFIX) || customId.length > MAX_CUSTOM_ID_LENGTH) return undefined;
  return parseCustomId(customId.slice(PREFIX.length));
}

/** The modal for `ref`, prefilled with the job's prompts. */
export function remixModal(ref: ButtonRef, prompt: string, negative: string | undefined): ModalBuilder {
  const promptInput = new TextInputBuilder()
    .setCustomId(REMIX_PROMPT_FIELD)
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(true)
    .setMaxLength(PROMPT_MAX)
    .setValue(prompt.slice(0, PROMPT_MAX));
  const negativeInput = new TextInputBuilder()
    .setCustomId(REMIX_NEGATIVE_FIELD)
    .setStyle(TextInputStyle.Paragraph)
    .setRequired(false)
    .setMaxLength(NEGATIVE_MAX);
  if (negative) negativeInput.setValue(negative.slice(0, NEGATIVE_MAX));
  return new ModalBuilder()
    .setCustomId(encodeRemixId(ref))
    .setTitle('Remix: edit the prompt')
    .addLabelComponents(
      new LabelBuilder().setLabel('Prompt').setTextInputComponent(promptInput),
      new LabelBuilder().setLabel('Negative prompt').setDescription('What to keep out of the picture').setTextInputComponent(negativeInput),
    );
}

/**
 * For 🔄, V and the other tools that redraw from a prompt: with remix on for the clicker, open
 * the form (the job is queued when it comes back, through the same `submit` path); otherwise
 * run `submit` at once. A job not found here goes to `submit`, which says so.
 */
export async function remixOrSubmit(i: ButtonInteraction, ref: ButtonRef, ctx: BotContext, submit: () => Promise<void>): Promise<void> {
  if (!remixOn(ctx, i.user.id)) return submit();
  const job = jobForCaller((id) => ctx.queue.get(id), ref.jobId, callerOf(i));
  if (job?.state !== 'done') return submit();
  await i.showModal(remixModal(ref, job.request.prompt, job.request.negativePrompt));
}

/** The form's values, checked; a string says what is wrong. */
export function readRemixEdit(i: ModalSubmitInteraction): RemixEdit | string {
  let raw: { prompt: string; negative: string };
  try {
    raw = { prompt: i.fields.getTextInputValue(REMIX_PROMPT_FIELD), negative: i.fields.getTextInputValue(REMIX_NEGATIVE_FIELD) ?? '' };
  } catch {
    return 'This form is from an older version of the bot; click the button again.';
  }
  const parsed = editSchema.safeParse(raw);
  if (!parsed.success) return parsed.error.issues.map((x) => x.message).join(' ');
  return { prompt: parsed.data.prompt, ...(parsed.data.negative ? { negativePrompt: parsed.data.negative } : {}) };
}

/** The derived job with the edited prompts, its lineage saying it was remixed ("remix_variation"). */
export function applyRemix<S extends Omit<JobSpec, 'messageId'>>(spec: S, ref: ButtonRef, edit: RemixEdit): S {
  const { negativePrompt: _old, ...request } = spec.request;
  const parent = { ...(spec.parent ?? { jobId: ref.jobId, imageIndex: ref.index }), action: `remix_${ref.action}`.slice(0, 40) };
  return { ...spec, request: { ...request, prompt: edit.prompt, ...(edit.negativePrompt ? { negativePrompt: edit.negativePrompt } : {}) }, parent };
}

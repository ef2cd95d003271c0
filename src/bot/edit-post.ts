// Posting a job made from a clicked result (U/V/🔄 and the editing tools, from a button or from
// the modal a button opened): the admission check first (settings, quotas, provider), then a
// new channel message replying to the clicked one, mentioning the clicker, which the presenter
// turns into the progress display and the result. Refusals go to the clicker alone.
import { MessageFlags, type ButtonInteraction, type ModalSubmitInteraction } from 'discord.js';
import type { JobSpec } from '../queue/types.js';
import type { BotContext } from './context.js';
import { shortPrompt } from './render.js';
import { preflight, submitJob } from './submit.js';

export type ClickInteraction = ButtonInteraction | ModalSubmitInteraction;

export const GONE = 'That job is no longer stored (outputs are kept for a limited time); run /imagine again.';

/** An ephemeral follow-up for the clicker (the interaction is already deferred). */
export function tellClicker(i: ClickInteraction, content: string): Promise<void> {
  return i.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).then(() => undefined);
}

/** Admits `spec`, posts its message under the clicked one and queues it; `title` heads the message. */
export async function postDerivedJob(i: ClickInteraction, spec: Omit<JobSpec, 'messageId'>, title: string, ctx: BotContext): Promise<void> {
  // Settings, quotas, and whether anything here may draw it: say so before posting anything.
  const checked = preflight(ctx, spec);
  if (!checked.ok) return tellClicker(i, checked.message);

  const headline = `**${shortPrompt(spec.request.prompt)}** · ${title} — <@${i.user.id}>`;
  let messageId: string;
  try {
    const posted = await ctx.messenger.postChannel(spec.requester.channelId, {
      content: `${headline}\n⏳ Queuing…`,
      mentionUsers: [i.user.id],
      ...(i.message ? { replyTo: i.message.id } : {}),
    });
    messageId = posted.id;
  } catch (err) {
    ctx.log.warn({ err: String(err) }, 'cannot post a button result message');
    return tellClicker(i, `⚠️ I cannot post in this channel (${(err as Error).message}); ask a moderator to let me send messages here.`);
  }
  const outcome = await submitJob(ctx, { ...spec, messageId }, { uploadLimit: i.attachmentSizeLimit });
  if (!outcome.ok) {
    await ctx.messenger
      .editChannel(spec.requester.channelId, messageId, { content: `${headline}\n${outcome.message}`, components: [] })
      .catch(() => tellClicker(i, outcome.message));
  }
}

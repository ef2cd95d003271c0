// Refusals are for the requester alone. Commands defer first (Discord's 3 s acknowledgement must
// not wait on checks, even in a burst of a thousand), so a refusal is an ephemeral follow-up and
// the deferred public reply is deleted.
import { MessageFlags, type RepliableInteraction } from 'discord.js';

export async function refuseDeferred(i: RepliableInteraction, content: string): Promise<void> {
  await i.followUp({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  if (i.deferred && !i.ephemeral) await i.deleteReply().catch(() => undefined);
}

/** An ephemeral answer, whether or not the interaction was answered yet. */
export async function answerEphemeral(i: RepliableInteraction, content: string): Promise<void> {
  const payload = { content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
  if (i.deferred || i.replied) await i.followUp(payload);
  else await i.reply(payload);
}

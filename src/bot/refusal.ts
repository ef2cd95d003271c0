// Refusals are for the requester alone. Commands defer first (Discord's 3 s acknowledgement must
// not wait on checks, even in a burst of a thousand), so a refusal deletes the deferred public
// reply and then answers with an ephemeral follow-up. In that order: while the reply still shows
// "thinking", Discord makes the first follow-up fill it in, public, whatever its flags say.
import { MessageFlags, type RepliableInteraction } from 'discord.js';

export async function refuseDeferred(i: RepliableInteraction, content: string): Promise<void> {
  if (i.deferred && !i.ephemeral) {
    const deleted = await i.deleteReply().then(
      () => true,
      () => false,
    );
    // Could not delete it: fill it with a neutral line, so the follow-up below is a message of its own.
    if (!deleted) await i.editReply({ content: '🚫 Not queued.', components: [], allowedMentions: { parse: [] } }).catch(() => undefined);
  }
  await i.followUp({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

/** An ephemeral answer, whether or not the interaction was answered yet. */
export async function answerEphemeral(i: RepliableInteraction, content: string): Promise<void> {
  const payload = { content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
  if (i.deferred || i.replied) await i.followUp(payload);
  else await i.reply(payload);
}

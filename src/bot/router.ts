// Sends each interaction to its handler; an unexpected error still gets an answer the user
// sees (an ephemeral line) instead of Discord's "The application did not respond". The bot is
// guild-only: its commands are registered for guilds only (contexts), and an interaction from
// a DM or a group DM that arrives anyway is refused here, so no server's settings are bypassed.
import { MessageFlags, type Interaction, type RepliableInteraction } from 'discord.js';
import { derive, handleButton } from './buttons.js';
import { handleForm, parseFormId } from './context-menu-forms.js';
import { parseRemixId, readRemixEdit } from './remix.js';
import type { BotContext } from './context.js';
import { parseCustomId } from './custom-id.js';
import { handleEditModal, startVary } from './edit-actions.js';
import type { CommandModule } from './registry.js';

async function answerError(i: RepliableInteraction, content: string): Promise<void> {
  const payload = { content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
  if (i.deferred || i.replied) await i.followUp(payload);
  else await i.reply(payload);
}

export const GUILD_ONLY = 'This bot works in servers only: run its commands in a server channel.';

export async function routeInteraction(i: Interaction, commands: Map<string, CommandModule>, ctx: BotContext): Promise<void> {
  try {
    if (!i.guildId) {
      if (i.isAutocomplete()) return await i.respond([]);
      if (i.isRepliable()) return await answerError(i, GUILD_ONLY);
      return;
    }
    if (i.isChatInputCommand()) {
      const command = commands.get(i.commandName);
      if (!command) return await answerError(i, `/${i.commandName} is not available any more.`);
      return await command.execute(i, ctx);
    }
    if (i.isMessageContextMenuCommand()) {
      const command = commands.get(i.commandName);
      if (!command) return await answerError(i, `${i.commandName} is not available any more.`);
      return await command.execute(i, ctx);
    }
    if (i.isAutocomplete()) {
      const command = commands.get(i.commandName);
      return await (command?.autocomplete ? command.autocomplete(i, ctx) : i.respond([]));
    }
    if (i.isButton()) {
      const ref = parseCustomId(i.customId);
      if (!ref) return await answerError(i, 'This button belongs to an older version of the bot; run /imagine again.');
      return await handleButton(i, ref, ctx);
    }
    if (i.isModalSubmit()) {
      // A remix form carries its button's custom_id (remix.ts); Edit image… and Vary this image
      // forms name the image they are about (context-menu-forms.ts).
      const remix = parseRemixId(i.customId);
      if (remix) {
        const edit = readRemixEdit(i);
        if (typeof edit === 'string') return await answerError(i, edit);
        if (remix.action === 'vary_subtle' || remix.action === 'vary_strong') return await startVary(i, { ...remix, action: remix.action }, ctx, edit);
        return await derive(i, remix, ctx, edit);
      }
      const form = parseFormId(i.customId);
      if (form) return await handleForm(i, form, ctx);
      // Custom Zoom's modal carries its button's custom_id.
      const ref = parseCustomId(i.customId);
      if (ref?.action === 'zoom_custom') return await handleEditModal(i, { ...ref, action: ref.action }, ctx);
      return await answerError(i, 'This form belongs to an older version of the bot; run the command again.');
    }
  } catch (err) {
    ctx.log.error({ err, interaction: i.id }, 'interaction handler failed');
    if (i.isRepliable()) {
      await answerError(i, `⚠️ Something went wrong: ${(err as Error)?.message ?? String(err)}`.slice(0, 1900)).catch((e: unknown) =>
        ctx.log.warn({ err: String(e) }, 'could not report the error to the user'),
      );
    }
  }
}

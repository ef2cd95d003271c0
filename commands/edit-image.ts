// "Edit image" (message context menu; Discord allows no "…" in command names): repaint part of any image message, the bot's or a
// person's. Opens a form with the prompt, a region preset and an optional mask upload
// (src/bot/context-menu-forms.ts); the job goes through the same checks as /imagine.
import { ApplicationCommandType, ContextMenuCommandBuilder, InteractionContextType, type MessageContextMenuCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { openEditForm } from '../src/bot/context-menu-forms.js';

export const data = new ContextMenuCommandBuilder().setName('Edit image').setType(ApplicationCommandType.Message).setContexts(InteractionContextType.Guild);

export async function execute(i: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  await openEditForm(i, ctx);
}

// "Vary this image" (message context menu): image-to-image from any image message, the bot's
// or a person's, at the owner's variation strength (src/bot/context-menu-forms.ts).
import { ApplicationCommandType, ContextMenuCommandBuilder, InteractionContextType, type MessageContextMenuCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { varyImage } from '../src/bot/context-menu-forms.js';

export const data = new ContextMenuCommandBuilder()
  .setName('Vary this image')
  .setType(ApplicationCommandType.Message)
  .setContexts(InteractionContextType.Guild);

export async function execute(i: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  await varyImage(i, ctx);
}

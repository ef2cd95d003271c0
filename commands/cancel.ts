// /cancel job:<id>: stops one of your waiting or running jobs; moderators (Manage Messages or
// Manage Server) may cancel anyone's. The id is the one /queue shows; autocomplete offers them.
import {
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type PermissionsBitField,
} from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { shortPrompt } from '../src/bot/render.js';
import type { JobRecord } from '../src/queue/types.js';

export const data = new SlashCommandBuilder()
  .setName('cancel')
  .setDescription('Cancel one of your jobs')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) => o.setName('job').setDescription('Job id (from /queue)').setRequired(true).setMaxLength(64).setAutocomplete(true));

function isModerator(perms: Readonly<PermissionsBitField> | null): boolean {
  return perms?.any([PermissionFlagsBits.ManageMessages, PermissionFlagsBits.ManageGuild]) ?? false;
}

/** Waiting and running jobs this user may cancel. */
function cancellable(ctx: BotContext, userId: string, guildId: string | null, moderator: boolean): JobRecord[] {
  return ctx.queue
    .positions()
    .map((p) => ctx.queue.get(p.jobId))
    .filter((j): j is JobRecord => j !== undefined && (j.requester.userId === userId || (moderator && j.requester.guildId === guildId)));
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const typed = i.options.getString('job', true).trim();
  const moderator = isModerator(i.memberPermissions);
  // An exact id, or the start of one of the caller's own jobs.
  const prefixMatches = typed.length >= 4 ? cancellable(ctx, i.user.id, i.guildId, moderator).filter((j) => j.id.startsWith(typed)) : [];
  const job = ctx.queue.get(typed) ?? (prefixMatches.length === 1 ? prefixMatches[0] : undefined);
  const reply = (content: string) => i.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  if (!job) {
    await reply(prefixMatches.length > 1 ? `Several of your jobs start with \`${typed}\`; give more of the id.` : `There is no job \`${typed}\`; /queue lists yours.`);
    return;
  }
  const allowed = job.requester.userId === i.user.id || (moderator && job.requester.guildId === i.guildId);
  if (!allowed) {
    await reply(`Only <@${job.requester.userId}> (who asked for it) or a moderator can cancel job \`${job.id}\`.`);
    return;
  }
  await i.deferReply({ flags: MessageFlags.Ephemeral });
  ctx.presenter.noteCancelledBy(job.id, i.user.id);
  const result = await ctx.queue.cancel(job.id, { userId: i.user.id, isAdmin: moderator });
  const answers = {
    cancelled: `Cancelled job \`${job.id}\` (**${shortPrompt(job.request.prompt, 60)}**).`,
    forbidden: `Only <@${job.requester.userId}> (who asked for it) or a moderator can cancel job \`${job.id}\`.`,
    already_finished: `Job \`${job.id}\` has already finished.`,
    not_found: `There is no job \`${job.id}\` any more.`,
  } as const;
  await i.editReply({ content: answers[result], allowedMentions: { parse: [] } });
}

export async function autocomplete(i: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const typed = String(i.options.getFocused() ?? '').trim().toLowerCase();
  const jobs = cancellable(ctx, i.user.id, i.guildId, isModerator(i.memberPermissions))
    .filter((j) => j.id.startsWith(typed) || j.request.prompt.toLowerCase().includes(typed))
    .slice(0, 25);
  await i.respond(jobs.map((j) => ({ name: `${j.state === 'running' ? '▶' : '⏳'} ${j.request.prompt.replace(/\s+/g, ' ')}`.slice(0, 100), value: j.id })));
}

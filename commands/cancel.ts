// /cancel job:<id>: stops one of your waiting or running jobs in this server; moderators
// (Manage Messages, see src/bot/job-access.ts) may cancel anyone's here. Jobs of other servers
// are answered as unknown. The id is the one /queue shows; autocomplete offers them.
import { InteractionContextType, MessageFlags, SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { callerOf, jobForCaller, mayCancel, type Caller } from '../src/bot/job-access.js';
import { shortPrompt } from '../src/bot/render.js';
import type { JobRecord } from '../src/queue/types.js';

export const data = new SlashCommandBuilder()
  .setName('cancel')
  .setDescription('Cancel one of your jobs')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) => o.setName('job').setDescription('Job id (from /queue)').setRequired(true).setMaxLength(64).setAutocomplete(true));

/** Waiting and running jobs of this guild the caller may cancel. */
function cancellable(ctx: BotContext, caller: Caller): JobRecord[] {
  return ctx.queue
    .positions()
    .map((p) => ctx.queue.get(p.jobId))
    .filter((j): j is JobRecord => j !== undefined && mayCancel(j, caller));
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const typed = i.options.getString('job', true).trim();
  const caller = callerOf(i);
  const moderator = caller.moderator;
  // An exact id, or the start of one of the caller's own jobs.
  const prefixMatches = typed.length >= 4 ? cancellable(ctx, caller).filter((j) => j.id.startsWith(typed)) : [];
  const job = jobForCaller((id) => ctx.queue.get(id), typed, caller) ?? (prefixMatches.length === 1 ? prefixMatches[0] : undefined);
  const reply = (content: string) => i.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  if (!job) {
    await reply(
      prefixMatches.length > 1 ? `Several of your jobs start with \`${typed}\`; give more of the id.` : `There is no job \`${typed}\`; /queue lists yours.`,
    );
    return;
  }
  if (!mayCancel(job, caller)) {
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
  const typed = String(i.options.getFocused() ?? '')
    .trim()
    .toLowerCase();
  const jobs = cancellable(ctx, callerOf(i))
    .filter((j) => j.id.startsWith(typed) || j.request.prompt.toLowerCase().includes(typed))
    .slice(0, 25);
  await i.respond(jobs.map((j) => ({ name: `${j.state === 'running' ? '▶' : '⏳'} ${j.request.prompt.replace(/\s+/g, ' ')}`.slice(0, 100), value: j.id })));
}

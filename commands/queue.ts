// /queue: the caller's waiting and running jobs with positions and estimated waits, and how
// busy each device is. Ephemeral; other people's prompts are not shown.
import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { formatDuration, shortPrompt } from '../src/bot/render.js';

export const data = new SlashCommandBuilder()
  .setName('queue')
  .setDescription('Your jobs in the queue, and how busy the devices are')
  .setContexts(InteractionContextType.Guild);

function devicesLine(ctx: BotContext, waiting: number): string {
  const queue = ctx.queue as Partial<{ workers(): { device: string; alive: boolean; jobId: string | undefined }[] }>;
  const workers = queue.workers?.() ?? [];
  const devices = workers.map((w) => `${w.device}: ${!w.alive ? 'restarting' : w.jobId ? '1 running' : 'idle'}`);
  return `**Queue** ${waiting} waiting${devices.length ? ` · ${devices.join(' · ')}` : ''}`;
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const positions = ctx.queue.positions();
  const mine = positions
    .map((p) => ({ p, job: ctx.queue.get(p.jobId) }))
    .filter((x) => x.job?.requester.userId === i.user.id);
  const lines = mine.map(({ p, job }) => {
    const where = p.position === 0 ? `running${job!.device ? ` on ${job!.device}` : ''}` : `position ${p.position}${p.etaMs > 0 ? `, about ${formatDuration(p.etaMs)} to wait` : ''}`;
    return `• \`${p.jobId}\` **${shortPrompt(job!.request.prompt, 60)}** — ${where}`;
  });
  const waiting = positions.filter((p) => p.position > 0).length;
  const yours = lines.length ? `**Your jobs** (cancel one with \`/cancel\`)\n${lines.join('\n')}` : 'You have no jobs waiting or running.';
  await i.reply({ content: `${yours}\n${devicesLine(ctx, waiting)}`.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

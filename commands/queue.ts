// /queue: the caller's waiting and running jobs with positions and estimated waits, and how
// busy each device is (running, and waiting jobs the estimate expects it to run), and finished
// jobs whose message Discord has not accepted yet. Ephemeral; other people's prompts are not shown.
import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import type { QueuePosition } from '../src/queue/types.js';
import { shortPrompt } from '../src/bot/render.js';
import { formatDuration } from '../src/durations.js';

export const data = new SlashCommandBuilder()
  .setName('queue')
  .setDescription('Your jobs in the queue, and how busy the devices are')
  .setContexts(InteractionContextType.Guild);

/** Each device with its running job and the waiting jobs the estimate expects it to run. */
function devicesLine(ctx: BotContext, positions: QueuePosition[]): string {
  const waitingOn = new Map<string, number>();
  for (const p of positions) if (p.position > 0 && p.device) waitingOn.set(p.device, (waitingOn.get(p.device) ?? 0) + 1);
  const running = new Set(positions.filter((p) => p.position === 0 && p.device).map((p) => p.device));
  const devices = ctx.queue.workers().map((w) => {
    if (!w.alive) return `${w.device}: restarting`;
    const state = running.has(w.device) ? '1 running' : 'idle';
    const waiting = waitingOn.get(w.device) ?? 0;
    return `${w.device}: ${state}${waiting ? `, ${waiting} waiting` : ''}`;
  });
  const total = positions.filter((p) => p.position > 0).length;
  return `**Queue** ${total} waiting${devices.length ? ` · ${devices.join(' · ')}` : ''}`;
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const positions = ctx.queue.positions();
  const mine = positions.map((p) => ({ p, job: ctx.queue.get(p.jobId) })).filter((x) => x.job?.requester.userId === i.user.id);
  const lines = mine.map(({ p, job }) => {
    const where =
      p.position === 0
        ? `running${job!.device ? ` on ${job!.device}` : ''}`
        : `position ${p.position}${p.etaMs > 0 ? `, about ${formatDuration(p.etaMs)} to wait` : ''}`;
    return `• \`${p.jobId}\` **${shortPrompt(job!.request.prompt, 60)}** — ${where}`;
  });
  const yours = lines.length ? `**Your jobs** (cancel one with \`/cancel\`)\n${lines.join('\n')}` : 'You have no jobs waiting or running.';
  // Finished, but Discord has not confirmed the message yet (the outbox keeps retrying).
  const owed = ctx.presenter.undelivered(i.user.id, i.guildId);
  const undelivered = owed.length
    ? `\n📬 ${owed.length === 1 ? '1 finished job is' : `${owed.length} finished jobs are`} waiting to be posted (Discord did not accept the message yet; retried automatically): ${owed
        .slice(0, 5)
        .map((id) => `\`${id}\``)
        .join(', ')}`
    : '';
  await i.reply({
    content: `${yours}${undelivered}\n${devicesLine(ctx, positions)}`.slice(0, 2000),
    flags: MessageFlags.Ephemeral,
    allowedMentions: { parse: [] },
  });
}

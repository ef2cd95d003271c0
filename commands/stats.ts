// /stats (Manage Server): the server's usage over the last 7 days, from the jobs table: jobs and
// images per day, device seconds per user and per model, failures, cloud (Gemini) usage in images
// and in the tokens Google billed. Ephemeral.
import { InteractionContextType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { isServerAdmin } from '../src/bot/job-access.js';
import { DAY_MS, type SecondsBy } from '../src/settings/usage.js';
import type { ApiKeyUsage } from '../src/store/api-jobs.js';

export const data = new SlashCommandBuilder()
  .setName('stats')
  .setDescription('Image usage on this server, last 7 days (Manage Server)')
  .setContexts(InteractionContextType.Guild)
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild);

const count = (n: number) => n.toLocaleString('en-US');
const seconds = (s: number) => (s < 10 ? s.toFixed(1) : Math.round(s).toString());

function ranking(rows: SecondsBy[], name: (r: SecondsBy) => string): string {
  return rows.length ? rows.map((r) => `${name(r)} ${seconds(r.seconds)} s (${r.jobs} job${r.jobs === 1 ? '' : 's'})`).join(' · ') : 'none';
}

/** HTTP API keys (src/api) are users of the same queue without a server: shown beside it, bot-wide. */
function apiLine(rows: ApiKeyUsage[]): string {
  if (!rows.length) return '**HTTP API** (all keys, whole bot) no jobs';
  const sum = (f: (r: ApiKeyUsage) => number) => rows.reduce((n, r) => n + f(r), 0);
  const perKey = rows.map((r) => `${r.key} ${seconds(r.seconds)} s (${r.jobs} job${r.jobs === 1 ? '' : 's'}, ${r.images} images)`).join(' · ');
  return `**HTTP API** (all keys, whole bot) ${sum((r) => r.jobs)} jobs, ${sum((r) => r.images)} images, ${sum((r) => r.failed)} failed; ${perKey}`;
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const reply = (content: string) => i.reply({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
  if (!i.inGuild()) return void (await reply('/stats works in a server only.'));
  if (!isServerAdmin(i.memberPermissions)) {
    await reply('🔒 Only members with the **Manage Server** permission can see this server’s usage.');
    return;
  }
  const s = ctx.settings.usage.guildStats(i.guildId, ctx.settings.now());
  const days = s.days.length
    ? s.days.map((d) => `• ${d.day}: ${d.jobs} jobs, ${d.images} images, ${d.failed} failed${d.imagenImages ? `, ${d.imagenImages} in the cloud` : ''}`)
    : ['• no jobs'];
  const cap = ctx.settings.effective(i.guildId).provider.imagenDailyCap;
  const lines = [
    '**Usage on this server, last 7 days** (UTC days)',
    ...days,
    `**GPU seconds per user** ${ranking(s.byUser, (r) => `<@${r.key}>`)}`,
    `**GPU seconds per model** ${ranking(s.byModel, (r) => r.label)}`,
    `**Failures** ${s.failures.count}${s.failures.recent.map((f) => `\n• ${f.count}× ${f.error.slice(0, 150)}`).join('')}`,
    `**Cloud (Gemini)** ${s.imagen.jobs} jobs, ${s.imagen.images} images; ${s.imagen.today} in the last 24 h${cap !== null ? ` (cap ${cap} per day)` : ''}` +
      (s.imagen.tokens.calls > 0
        ? `\n• tokens billed: ${count(s.imagen.tokens.total)} (${count(s.imagen.tokens.prompt)} prompt, ${count(s.imagen.tokens.output)} output) over ${s.imagen.tokens.calls} calls`
        : ''),
    apiLine(ctx.settings.usage.api.usageSince(ctx.settings.now() - 7 * DAY_MS)),
  ];
  await reply(lines.join('\n'));
}

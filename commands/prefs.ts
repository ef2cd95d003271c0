// /prefs: a user's personal defaults for /imagine (model, size, negative prompt, count) and two
// switches (remix: edit the prompt before 🔄/V; stealth: results only you see, where the server
// allows it). Stored per user (src/store/prefs.ts); explicit /imagine options win, and each
// server's limits clamp them when a job uses them. Every answer is ephemeral.
import { InteractionContextType, MessageFlags, SlashCommandBuilder, type AutocompleteInteraction, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.js';
import { NEGATIVE_MAX } from '../src/bot/imagine-options.js';
import { limitsFor } from '../src/bot/limits.js';
import { PREF_LABELS } from '../src/bot/prefs.js';
import { escapeUserText } from '../src/bot/escape.js';
import { modelAllowed } from '../src/settings/effective.js';
import { formatSize, isPreset, parseWxH, presetSize, SIZE_PRESETS, SIZE_STEP } from '../src/jobs/sizes.js';
import type { UserPrefs } from '../src/store/prefs.js';

const FIELDS = Object.keys(PREF_LABELS) as (keyof UserPrefs)[];

export const data = new SlashCommandBuilder()
  .setName('prefs')
  .setDescription('Your personal defaults for /imagine')
  .setContexts(InteractionContextType.Guild)
  .addSubcommand((s) =>
    s
      .setName('set')
      .setDescription('Set one or more of your defaults')
      .addStringOption((o) => o.setName('model').setDescription('Default model').setMaxLength(100).setAutocomplete(true))
      .addStringOption((o) => o.setName('size').setDescription('square, portrait, landscape, wide, or WxH').setMaxLength(11))
      .addStringOption((o) => o.setName('negative').setDescription('Default negative prompt').setMaxLength(NEGATIVE_MAX))
      .addIntegerOption((o) => o.setName('count').setDescription('Images per job (1–4)').setMinValue(1).setMaxValue(4))
      .addBooleanOption((o) => o.setName('remix').setDescription('Edit the prompt in a form before 🔄 and V'))
      .addBooleanOption((o) => o.setName('stealth').setDescription('Results only you see, where the server allows it')),
  )
  .addSubcommand((s) => s.setName('view').setDescription('Show your defaults and what applies on this server'))
  .addSubcommand((s) =>
    s
      .setName('clear')
      .setDescription('Forget one default, or all of them')
      .addStringOption((o) =>
        o
          .setName('which')
          .setDescription('Which one (all when empty)')
          .addChoices(...FIELDS.map((f) => ({ name: f, value: f }))),
      ),
  );

const say = (i: ChatInputCommandInteraction, content: string) =>
  i.reply({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).then(() => undefined);

/** A size as the user typed it, if /imagine would take it at all (the server's limit is applied per job). */
function sizeProblem(value: string): string | undefined {
  const v = value.trim().toLowerCase();
  if (isPreset(v)) return undefined;
  const s = parseWxH(v);
  if (!s) return `"${value}" is not a size; use ${Object.keys(SIZE_PRESETS).join(', ')} or WxH such as 512x768.`;
  if ([s.width, s.height].some((x) => x % SIZE_STEP !== 0 || x < SIZE_STEP)) return `${formatSize(s)}: both sides must be multiples of ${SIZE_STEP}.`;
  return undefined;
}

/** Each default, and what it becomes on this server (not allowed, clamped). */
function describe(ctx: BotContext, i: ChatInputCommandInteraction, prefs: UserPrefs): string {
  const limits = limitsFor(i.guildId, ctx.config, ctx.settings);
  const settings = ctx.settings.effective(i.guildId);
  const lines: string[] = [];
  if (prefs.model) {
    const found = ctx.catalog.lookup(prefs.model);
    const here = !found.ok
      ? ' — not installed: the server default is used'
      : !modelAllowed(settings, prefs.model)
        ? ' — not allowed on this server: its default is used'
        : '';
    lines.push(`• **model**: ${prefs.model}${here}`);
  }
  if (prefs.size) {
    const v = prefs.size.toLowerCase();
    const model = ctx.catalog.lookup(prefs.model);
    const size = isPreset(v) ? presetSize(v, model.ok ? model.model.defaults.width : 512) : parseWxH(v);
    const tooBig = size && Math.max(size.width, size.height) > limits.maxSide;
    lines.push(`• **size**: ${prefs.size}${tooBig ? ` — shrunk to fit this server's largest side, ${limits.maxSide} px` : ''}`);
  }
  if (prefs.negative) lines.push(`• **negative prompt**: ${escapeUserText(prefs.negative)}`);
  if (prefs.count !== undefined) {
    lines.push(`• **images per job**: ${prefs.count}${prefs.count > limits.maxCount ? ` — this server allows ${limits.maxCount}, so ${limits.maxCount}` : ''}`);
  }
  lines.push(`• **remix**: ${prefs.remix ? 'on — 🔄 and V open a form with the prompt first' : 'off'}`);
  const stealthHere = settings.safety.stealth.value;
  lines.push(
    `• **stealth**: ${
      !prefs.stealth
        ? 'off'
        : stealthHere
          ? 'on — your /imagine results here are messages only you see (within Discord’s 15 minutes for private replies; a result that takes longer is posted in the channel, so it is never lost)'
          : 'on — but this server does not allow private results, so yours are posted in the channel'
    }`,
  );
  return lines.join('\n');
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const sub = i.options.getSubcommand();
  const current = ctx.prefs.get(i.user.id);
  if (sub === 'view') {
    const set = FIELDS.some((f) => current[f] !== undefined);
    return say(i, `**Your defaults**${set ? '' : ' (none set: the server’s apply)'} — options you give /imagine always win:\n${describe(ctx, i, current)}`);
  }
  if (sub === 'clear') {
    const which = i.options.getString('which') as keyof UserPrefs | null;
    const next: UserPrefs = which ? { ...current, [which]: undefined } : {};
    const saved = ctx.prefs.set(i.user.id, next);
    ctx.log.info({ userId: i.user.id, cleared: which ?? 'all' }, 'personal defaults cleared');
    return say(i, `${which ? `Forgot your ${PREF_LABELS[which]}.` : 'Forgot all your defaults.'}\n${describe(ctx, i, saved)}`);
  }
  const o = i.options;
  const changes: UserPrefs = {};
  const model = o.getString('model');
  if (model !== null) {
    const found = ctx.catalog.lookup(model.trim());
    if (!found.ok) return say(i, `⚠️ ${found.message}`);
    changes.model = found.model.name;
  }
  const size = o.getString('size');
  if (size !== null) {
    const problem = sizeProblem(size);
    if (problem) return say(i, `⚠️ ${problem}`);
    changes.size = size.trim().toLowerCase();
  }
  const negative = o.getString('negative');
  if (negative !== null) changes.negative = negative.trim() || undefined;
  const count = o.getInteger('count');
  if (count !== null) changes.count = count;
  const remix = o.getBoolean('remix');
  if (remix !== null) changes.remix = remix;
  const stealth = o.getBoolean('stealth');
  if (stealth !== null) changes.stealth = stealth;
  if (Object.keys(changes).length === 0) return say(i, 'Give at least one option to set; `/prefs view` shows what you have.');
  const saved = ctx.prefs.set(i.user.id, { ...current, ...changes });
  ctx.log.info({ userId: i.user.id, changed: Object.keys(changes) }, 'personal defaults changed');
  return say(i, `Saved. Your defaults:\n${describe(ctx, i, saved)}`);
}

export async function autocomplete(i: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const typed = String(i.options.getFocused() ?? '')
    .trim()
    .toLowerCase();
  const settings = ctx.settings.effective(i.guildId);
  const choices = ctx.catalog
    .list()
    .filter((m) => m.name.toLowerCase().includes(typed) && modelAllowed(settings, m.name))
    .map((m) => ({ name: m.name, value: m.name }));
  await i.respond(choices.slice(0, 25));
}

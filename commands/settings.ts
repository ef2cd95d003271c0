// /settings: a server's admins set models, limits, channels, provider, safety and defaults for
// /imagine. Hidden from members without Manage Server (default_member_permissions), and checked
// again here: admins can grant the command to others in Server Settings → Integrations, and
// the permission may have changed since the client showed it. Every answer is ephemeral.
import {
  ChannelType,
  InteractionContextType,
  MessageFlags,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type SlashCommandSubcommandBuilder,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { DIFFUSION_SCHEDULER_NAMES } from '../src/diffusion/types.js';
import { MAX_STEPS } from '../src/diffusion/validate.js';
import { PROVIDER_POLICIES } from '../src/providers/policy-types.js';
import type { BotContext } from '../src/bot/context.js';
import { isServerAdmin } from '../src/bot/job-access.js';
import { listLoras } from '../src/diffusion/lora/choices.js';
import { LIMIT_MAX, type LimitKey, type SettingsCommand } from '../src/settings/changes.js';
import { describeSettings } from '../src/settings/describe.js';
import { FLAGGED_ACTIONS, MAX_PHRASE_LENGTH, SETTINGS_SECTIONS } from '../src/settings/schema.js';

const CHANNEL_TYPES = [ChannelType.GuildText, ChannelType.GuildAnnouncement, ChannelType.GuildVoice] as const;

/** /settings limits option → setting. */
const LIMIT_OPTIONS: [string, LimitKey, string][] = [
  ['max_steps', 'maxSteps', 'Most denoising steps per image'],
  ['max_size', 'maxSide', 'Longest image side in pixels (multiple of 64)'],
  ['max_images', 'maxCount', 'Most images per job'],
  ['max_queued', 'maxQueuedPerUser', 'Most waiting jobs per user'],
  ['jobs_per_hour', 'jobsPerHour', 'Jobs per user per hour'],
  ['images_per_day', 'imagesPerDay', 'Images per user per day'],
  ['cooldown', 'cooldownSeconds', 'Seconds between one user’s jobs'],
];

const modelName = (s: SlashCommandSubcommandBuilder, what: string) =>
  s
    .setDescription(what)
    .addStringOption((o) => o.setName('name').setDescription('Model folder name').setRequired(true).setMaxLength(100).setAutocomplete(true));

const loraName = (s: SlashCommandSubcommandBuilder, what: string) =>
  s
    .setDescription(what)
    .addStringOption((o) => o.setName('lora').setDescription('LoRA name ($MODELS_DIR/loras)').setRequired(true).setMaxLength(100).setAutocomplete(true));

const channel = (s: SlashCommandSubcommandBuilder, what: string) =>
  s.setDescription(what).addChannelOption((o) =>
    o
      .setName('channel')
      .setDescription('The channel')
      .setRequired(true)
      .addChannelTypes(...CHANNEL_TYPES),
  );

const phrase = (s: SlashCommandSubcommandBuilder, what: string, autocomplete: boolean) =>
  s
    .setDescription(what)
    .addStringOption((o) =>
      o
        .setName('phrase')
        .setDescription('A word or phrase (whole words, any case)')
        .setRequired(true)
        .setMaxLength(MAX_PHRASE_LENGTH)
        .setAutocomplete(autocomplete),
    );

export const data = new SlashCommandBuilder()
  .setName('settings')
  .setDescription('Image settings for this server (Manage Server)')
  .setContexts(InteractionContextType.Guild)
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .addSubcommand((s) => s.setName('view').setDescription('Show the settings in force here and where each comes from'))
  .addSubcommandGroup((g) =>
    g
      .setName('model')
      .setDescription('Which models /imagine may use')
      .addSubcommand((s) => modelName(s.setName('default'), 'The model /imagine uses when none is picked'))
      .addSubcommand((s) => modelName(s.setName('allow'), 'Allow a model (undoes a deny, else only allowed models work)'))
      .addSubcommand((s) => modelName(s.setName('deny'), 'Deny a model')),
  )
  .addSubcommandGroup((g) =>
    g
      .setName('lora')
      .setDescription('Which LoRAs /imagine may use')
      .addSubcommand((s) => loraName(s.setName('allow'), 'Allow a LoRA (undoes a deny, else only allowed LoRAs work)'))
      .addSubcommand((s) => loraName(s.setName('deny'), 'Deny a LoRA')),
  )
  .addSubcommand((s) => {
    s.setName('limits').setDescription('Limits per job and per user; 0 returns to the owner’s value');
    for (const [name, key, what] of LIMIT_OPTIONS) {
      s.addIntegerOption((o) => o.setName(name).setDescription(what).setMinValue(0).setMaxValue(LIMIT_MAX[key]));
    }
    return s;
  })
  .addSubcommandGroup((g) =>
    g
      .setName('channels')
      .setDescription('Where /imagine works (everywhere by default)')
      .addSubcommand((s) => channel(s.setName('allow'), 'Allow /imagine here (undoes a deny, else only allowed channels)'))
      .addSubcommand((s) => channel(s.setName('deny'), 'Turn /imagine off in a channel')),
  )
  .addSubcommand((s) =>
    s
      .setName('provider')
      .setDescription('Who draws: local GPUs, the cloud (Gemini) as fallback, or the cloud always')
      .addStringOption((o) =>
        o
          .setName('policy')
          .setDescription('local, fallback (the cloud when local cannot) or cloud')
          .addChoices(...PROVIDER_POLICIES.map((p) => ({ name: p, value: p }))),
      )
      .addIntegerOption((o) =>
        o.setName('imagen_daily_cap').setDescription('Cloud images per day for this server (0 = none)').setMinValue(0).setMaxValue(1_000_000),
      ),
  )
  .addSubcommandGroup((g) =>
    g
      .setName('safety')
      .setDescription('Blocked words and flagged images')
      .addSubcommand((s) => phrase(s.setName('block'), 'Refuse prompts containing a word or phrase', false))
      .addSubcommand((s) => phrase(s.setName('unblock'), 'Stop refusing a word or phrase', true))
      .addSubcommand((s) =>
        s
          .setName('flagged')
          .setDescription('What happens to images the safety checker flags')
          .addStringOption((o) =>
            o
              .setName('action')
              .setDescription('block: not posted · blur: blurred spoiler · allow: as is, age-restricted channels only')
              .setRequired(true)
              .addChoices(...FLAGGED_ACTIONS.map((a) => ({ name: a, value: a }))),
          ),
      )
      .addSubcommand((s) =>
        s
          .setName('stealth')
          .setDescription('Whether members may get private results (/prefs stealth)')
          .addBooleanOption((o) => o.setName('allowed').setDescription('true: allowed · false: every result is public (default)').setRequired(true)),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName('defaults')
      .setDescription('Defaults for /imagine options left empty here')
      .addStringOption((o) => o.setName('negative').setDescription('Negative prompt').setMaxLength(1000))
      .addIntegerOption((o) => o.setName('steps').setDescription('Denoising steps').setMinValue(1).setMaxValue(MAX_STEPS))
      .addNumberOption((o) => o.setName('guidance').setDescription('Guidance scale').setMinValue(0).setMaxValue(30))
      .addStringOption((o) => o.setName('size').setDescription('square, portrait, landscape, wide, or WxH').setMaxLength(11))
      .addStringOption((o) =>
        o
          .setName('scheduler')
          .setDescription('Sampler for SD 1.x/SDXL models (SD3 models always use flow_match_euler)')
          .addChoices(...DIFFUSION_SCHEDULER_NAMES.map((n) => ({ name: n, value: n }))),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName('reset')
      .setDescription('Back to the owner’s defaults: everything, or one section')
      .addStringOption((o) =>
        o
          .setName('section')
          .setDescription('What to reset (all by default)')
          .addChoices(...['all', ...SETTINGS_SECTIONS].map((n) => ({ name: n, value: n }))),
      ),
  );

function ephemeral(i: ChatInputCommandInteraction, content: string): Promise<unknown> {
  return i.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

/** The change a subcommand asks for; undefined for `view`. */
function commandOf(i: ChatInputCommandInteraction): SettingsCommand | undefined {
  const o = i.options;
  const group = o.getSubcommandGroup(false);
  const sub = o.getSubcommand();
  switch (group) {
    case 'model':
      return { kind: `model-${sub as 'default' | 'allow' | 'deny'}`, name: o.getString('name', true) };
    case 'lora':
      return { kind: sub === 'allow' ? 'lora-allow' : 'lora-deny', name: o.getString('lora', true) };
    case 'channels':
      return { kind: sub === 'allow' ? 'channel-allow' : 'channel-deny', channelId: o.getChannel('channel', true).id };
    case 'safety':
      if (sub === 'flagged') return { kind: 'safety-flagged', action: o.getString('action', true) };
      if (sub === 'stealth') return { kind: 'safety-stealth', allowed: o.getBoolean('allowed', true) };
      return { kind: sub === 'block' ? 'safety-block' : 'safety-unblock', phrase: o.getString('phrase', true) };
  }
  switch (sub) {
    case 'view':
      return undefined;
    case 'limits': {
      const values: Partial<Record<LimitKey, number>> = {};
      for (const [name, key] of LIMIT_OPTIONS) {
        const v = o.getInteger(name);
        if (v !== null) values[key] = v;
      }
      return { kind: 'limits', values };
    }
    case 'provider': {
      const policy = o.getString('policy');
      const cap = o.getInteger('imagen_daily_cap');
      return { kind: 'provider', ...(policy !== null ? { policy } : {}), ...(cap !== null ? { imagenDailyCap: cap } : {}) };
    }
    case 'defaults': {
      const values: Extract<SettingsCommand, { kind: 'defaults' }>['values'] = {};
      const negative = o.getString('negative');
      const steps = o.getInteger('steps');
      const guidance = o.getNumber('guidance');
      const size = o.getString('size');
      const scheduler = o.getString('scheduler');
      if (negative !== null) values.negativePrompt = negative;
      if (steps !== null) values.steps = steps;
      if (guidance !== null) values.guidance = guidance;
      if (size !== null) values.size = size;
      if (scheduler !== null) values.scheduler = scheduler;
      return { kind: 'defaults', values };
    }
    case 'reset':
      return { kind: 'reset', section: o.getString('section') ?? 'all' };
  }
  throw new Error(`/settings ${group ?? ''} ${sub} is not known to this version of the bot.`);
}

function recentChanges(ctx: BotContext, guildId: string): string {
  const entries = ctx.settings.audit(guildId, 3);
  if (entries.length === 0) return '';
  const lines = entries.map((e) => `• <t:${Math.floor(e.at / 1000)}:R> <@${e.userId}> ${e.setting}`);
  return `\n**Recent changes**\n${lines.join('\n')}`;
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  if (!i.inGuild()) return void (await ephemeral(i, '/settings works in a server only.'));
  if (!isServerAdmin(i.memberPermissions)) {
    await ephemeral(i, '🔒 Only members with the **Manage Server** permission can view or change these settings.');
    return;
  }
  const models = ctx.catalog.list().map((m) => m.name);
  const cmd = commandOf(i);
  if (!cmd) {
    const fallback = ctx.catalog.lookup();
    const view = describeSettings(ctx.settings.effective(i.guildId), ctx.settings.owner, models, fallback.ok ? fallback.model.name : undefined);
    await ephemeral(i, `${view}${recentChanges(ctx, i.guildId)}`.slice(0, 2000));
    return;
  }
  const result = ctx.settings.change(
    i.guildId,
    i.user.id,
    cmd,
    models,
    listLoras(ctx.catalog.modelsDir).map((l) => l.name),
  );
  if (result.ok) ctx.log.info({ guildId: i.guildId, userId: i.user.id, setting: result.change.setting }, 'guild setting changed');
  await ephemeral(i, result.ok ? result.confirm : result.message);
}

export async function autocomplete(i: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  // The values offered (blocked words…) are admin-only like the command: nothing for others.
  if (!i.inGuild() || !isServerAdmin(i.memberPermissions)) return void (await i.respond([]));
  const focused = i.options.getFocused(true);
  const typed = String(focused.value ?? '')
    .trim()
    .toLowerCase();
  let names: string[] = [];
  if (focused.name === 'name') names = ctx.catalog.list().map((m) => m.name);
  else if (focused.name === 'lora') names = listLoras(ctx.catalog.modelsDir).map((l) => l.name);
  else if (focused.name === 'phrase' && i.guildId) names = ctx.settings.effective(i.guildId).safety.blockedWords;
  const choices = names.filter((n) => n.toLowerCase().includes(typed)).slice(0, 25);
  await i.respond(choices.map((n) => ({ name: n.slice(0, 100), value: n.slice(0, 100) })));
}

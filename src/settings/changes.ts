// One admin change at a time: validated with zod against the owner's ceilings and the models on
// disk, applied to a copy of the guild's settings, and described twice: for the audit row (what
// changed, from what, to what) and for the admin (a confirmation with the new value).
import { z } from 'zod';
import { DIFFUSION_SCHEDULER_NAMES, type SchedulerName } from '../diffusion/types.js';
import { PROVIDER_POLICIES, providerPolicySchema, type ProviderPolicy } from '../providers/policy-types.js';
import { formatSize, isPreset, parseWxH, SIZE_STEP } from '../jobs/sizes.js';
import { normalizePhrase } from './blocked-words.js';
import { effectiveSettings } from './effective.js';
import { OWNER_ENV, type OwnerSettings } from './owner.js';
import {
  FLAGGED_ACTIONS,
  MAX_BLOCKED_PHRASES,
  MAX_PHRASE_LENGTH,
  SETTINGS_SECTIONS,
  type DefaultSettings,
  type FlaggedAction,
  type GuildSettings,
  type LimitSettings,
  type SettingsSection,
} from './schema.js';
import type { SettingsChange } from './store.js';
import { formatSettingSeconds } from '../durations.js';

export type LimitKey = keyof LimitSettings;

export const LIMIT_LABELS: Record<LimitKey, string> = {
  maxSteps: 'max steps',
  maxSide: 'max size',
  maxCount: 'max images per job',
  maxQueuedPerUser: 'max waiting jobs per user',
  jobsPerHour: 'jobs per user per hour',
  imagesPerDay: 'images per user per day',
  cooldownSeconds: 'cooldown',
};

/** Largest value Discord lets an admin type for each limit (the owner's ceiling is checked after). */
export const LIMIT_MAX: Record<LimitKey, number> = {
  maxSteps: 150,
  maxSide: 2048,
  maxCount: 4,
  maxQueuedPerUser: 1000,
  jobsPerHour: 100_000,
  imagesPerDay: 1_000_000,
  cooldownSeconds: 86_400,
};

export type SettingsCommand =
  | { kind: 'model-default'; name: string }
  | { kind: 'model-allow'; name: string }
  | { kind: 'model-deny'; name: string }
  | { kind: 'lora-allow'; name: string }
  | { kind: 'lora-deny'; name: string }
  /** 0 removes the server's value. */
  | { kind: 'limits'; values: Partial<Record<LimitKey, number>> }
  | { kind: 'channel-allow'; channelId: string }
  | { kind: 'channel-deny'; channelId: string }
  /** imagenDailyCap 0 removes the server's cap. */
  | { kind: 'provider'; policy?: string; imagenDailyCap?: number }
  | { kind: 'safety-block'; phrase: string }
  | { kind: 'safety-unblock'; phrase: string }
  | { kind: 'safety-flagged'; action: string }
  | { kind: 'safety-stealth'; allowed: boolean }
  | { kind: 'defaults'; values: { negativePrompt?: string; steps?: number; guidance?: number; size?: string; scheduler?: string } }
  | { kind: 'reset'; section?: string };

export interface ChangeContext {
  current: GuildSettings;
  owner: OwnerSettings;
  /** Installed model folder names. */
  models: string[];
  /** Installed LoRA names ($MODELS_DIR/loras). */
  loras?: string[];
}

export type ChangeResult = { ok: true; next: GuildSettings; change: SettingsChange; confirm: string } | { ok: false; message: string };

const clone = (s: GuildSettings): GuildSettings => structuredClone(s);

export function formatLimit(key: LimitKey, value: number | null): string {
  if (value === null || (key === 'cooldownSeconds' && value === 0)) return 'none';
  if (key === 'cooldownSeconds') return formatSettingSeconds(value);
  if (key === 'maxSide') return `${value} px`;
  return String(value);
}

/** The zod check of one limit: 0 (clear) or within the owner's bound, which the message names. */
function limitSchema(key: LimitKey, owner: OwnerSettings) {
  const label = LIMIT_LABELS[key];
  const env = OWNER_ENV[key === 'cooldownSeconds' ? 'minCooldownSeconds' : key];
  return z
    .number({ error: `${label} must be a number` })
    .int(`${label} must be a whole number`)
    .min(0, `${label} must be 0 (back to the owner's value) or more`)
    .max(LIMIT_MAX[key], `${label} must be at most ${LIMIT_MAX[key]}`)
    .superRefine((v, ctx) => {
      if (v === 0) return;
      const o = owner.limits;
      if (key === 'cooldownSeconds') {
        if (v < o.minCooldownSeconds)
          ctx.addIssue({ code: 'custom', message: `cooldown ${formatSettingSeconds(v)} is below the owner's minimum ${env}=${o.minCooldownSeconds}` });
        return;
      }
      if (key === 'maxSide' && v % SIZE_STEP !== 0) {
        ctx.addIssue({ code: 'custom', message: `max size ${v} must be a multiple of ${SIZE_STEP}` });
        return;
      }
      const ceiling = o[key];
      if (ceiling !== null && v > ceiling) ctx.addIssue({ code: 'custom', message: `${label} ${v} is above the owner's ceiling ${env}=${ceiling}` });
    });
}

function firstIssue(error: z.ZodError): string {
  return error.issues.map((i) => i.message).join('; ');
}

function modelName(ctx: ChangeContext, name: string): string | { error: string } {
  const trimmed = name.trim();
  if (ctx.models.includes(trimmed)) return trimmed;
  const available = ctx.models.length ? `Installed: ${ctx.models.join(', ')}.` : 'No model is installed.';
  return { error: `Model "${trimmed}" is not installed. ${available}` };
}

const refuse = (message: string): ChangeResult => ({ ok: false, message: `⚠️ ${message}` });
const without = (list: string[], item: string) => list.filter((x) => x !== item);
const withItem = (list: string[], item: string) => (list.includes(item) ? list : [...list, item]);

function listChange(
  kind: 'allow' | 'deny',
  lists: { allow: string[]; deny: string[] },
  item: string,
): { allow: string[]; deny: string[]; restricted: boolean } {
  if (kind === 'deny') return { allow: without(lists.allow, item), deny: withItem(lists.deny, item), restricted: false };
  // allow: undo a deny; with no deny to undo (or an allow list already in force), allow-list it.
  const wasDenied = lists.deny.includes(item);
  const deny = without(lists.deny, item);
  const restricted = !wasDenied || lists.allow.length > 0;
  return { allow: restricted ? withItem(lists.allow, item) : lists.allow, deny, restricted };
}

function modelChange(cmd: Extract<SettingsCommand, { kind: `model-${string}` }>, ctx: ChangeContext): ChangeResult {
  const name = modelName(ctx, cmd.name);
  if (typeof name !== 'string') return refuse(name.error);
  const next = clone(ctx.current);
  const before = ctx.current.model ?? { allow: [], deny: [] };
  const model = { allow: [...before.allow], deny: [...before.deny], ...(before.default ? { default: before.default } : {}) };
  if (cmd.kind === 'model-default') {
    const denied = model.deny.includes(name) || (model.allow.length > 0 && !model.allow.includes(name));
    if (denied) return refuse(`${name} is not allowed on this server; run \`/settings model allow ${name}\` first.`);
    model.default = name;
    next.model = model;
    return { ok: true, next, change: { setting: 'model.default', before: before.default ?? null, after: name }, confirm: `✅ Default model: **${name}**.` };
  }
  if (cmd.kind === 'model-deny' && model.default === name) {
    return refuse(`${name} is this server's default model; set another default first (\`/settings model default\`).`);
  }
  const lists = listChange(cmd.kind === 'model-allow' ? 'allow' : 'deny', model, name);
  next.model = { ...model, allow: lists.allow, deny: lists.deny };
  const after = { allow: lists.allow, deny: lists.deny };
  const change = { setting: `model.${cmd.kind === 'model-allow' ? 'allow' : 'deny'}`, before: { allow: model.allow, deny: model.deny }, after };
  const confirm =
    cmd.kind === 'model-deny'
      ? `✅ **${name}** is denied on this server. Denied: ${lists.deny.join(', ')}.`
      : lists.restricted
        ? `✅ Only these models are allowed on this server now: ${lists.allow.join(', ')}. (\`/settings reset model\` allows every model again.)`
        : `✅ **${name}** is allowed again.`;
  return { ok: true, next, change, confirm };
}

function limitsChange(cmd: Extract<SettingsCommand, { kind: 'limits' }>, ctx: ChangeContext): ChangeResult {
  const keys = Object.keys(cmd.values) as LimitKey[];
  if (keys.length === 0) return refuse('Give at least one limit to change (e.g. `max_steps:30`); `/settings view` shows them all.');
  const shape = Object.fromEntries(keys.map((k) => [k, limitSchema(k, ctx.owner)]));
  const parsed = z.object(shape).safeParse(cmd.values);
  if (!parsed.success) return refuse(`Not changed: ${firstIssue(parsed.error)}.`);
  const next = clone(ctx.current);
  const limits: LimitSettings = { ...(ctx.current.limits ?? {}) };
  const before: Partial<Record<LimitKey, number | null>> = {};
  const after: Partial<Record<LimitKey, number | null>> = {};
  for (const key of keys) {
    const v = parsed.data[key] as number;
    before[key] = limits[key] ?? null;
    after[key] = v === 0 ? null : v;
    if (v === 0) delete limits[key];
    else limits[key] = v;
  }
  next.limits = limits;
  const eff = effectiveSettings(next, ctx.owner).limits;
  const parts = keys.map((k) => {
    const e = eff[k];
    return `${LIMIT_LABELS[k]} ${formatLimit(k, e.value)}${e.source === 'owner' ? " (the owner's value)" : ''}`;
  });
  return { ok: true, next, change: { setting: keys.length === 1 ? `limits.${keys[0]}` : 'limits', before, after }, confirm: `✅ Limits: ${parts.join(', ')}.` };
}

function channelChange(cmd: Extract<SettingsCommand, { kind: `channel-${string}` }>, ctx: ChangeContext): ChangeResult {
  if (!/^\d{15,21}$/.test(cmd.channelId)) return refuse('That is not a channel.');
  const next = clone(ctx.current);
  const before = { allow: ctx.current.channels?.allow ?? [], deny: ctx.current.channels?.deny ?? [] };
  const lists = listChange(cmd.kind === 'channel-allow' ? 'allow' : 'deny', before, cmd.channelId);
  next.channels = { allow: lists.allow, deny: lists.deny };
  const mention = (ids: string[]) => ids.map((id) => `<#${id}>`).join(', ');
  const confirm =
    cmd.kind === 'channel-deny'
      ? `✅ /imagine is off in <#${cmd.channelId}>. Off in: ${mention(lists.deny)}.`
      : lists.restricted
        ? `✅ /imagine works only in ${mention(lists.allow)} now. (\`/settings reset channels\` opens every channel again.)`
        : `✅ /imagine works in <#${cmd.channelId}> again.`;
  const setting = `channels.${cmd.kind === 'channel-allow' ? 'allow' : 'deny'}`;
  return { ok: true, next, change: { setting, before, after: { allow: lists.allow, deny: lists.deny } }, confirm };
}

export const IMAGEN_OFF_REASON =
  'The cloud provider (Gemini) is off: GOOGLE_API_KEY is not set on the bot, so every job is drawn locally until the owner sets it.';

function providerChange(cmd: Extract<SettingsCommand, { kind: 'provider' }>, ctx: ChangeContext): ChangeResult {
  if (cmd.policy === undefined && cmd.imagenDailyCap === undefined) return refuse('Give `policy`, `imagen_daily_cap` or both.');
  const schema = z.object({
    policy: providerPolicySchema(`policy must be one of ${PROVIDER_POLICIES.join(', ')}`).optional(),
    imagenDailyCap: z
      .number()
      .int('the cloud daily cap must be a whole number')
      .min(0, 'the cloud daily cap must be 0 (none) or more')
      .max(1_000_000)
      .optional(),
  });
  const parsed = schema.safeParse(cmd);
  if (!parsed.success) return refuse(`Not changed: ${firstIssue(parsed.error)}.`);
  const next = clone(ctx.current);
  const before = ctx.current.provider ?? {};
  const provider: { policy?: ProviderPolicy; imagenDailyCap?: number } = { ...before };
  if (parsed.data.policy) provider.policy = parsed.data.policy;
  if (parsed.data.imagenDailyCap !== undefined) {
    if (parsed.data.imagenDailyCap === 0) delete provider.imagenDailyCap;
    else provider.imagenDailyCap = parsed.data.imagenDailyCap;
  }
  next.provider = provider;
  const eff = effectiveSettings(next, ctx.owner).provider;
  let confirm = `✅ Provider: **${eff.policy.value}** · cloud daily cap: ${eff.imagenDailyCap ?? 'none'}.`;
  if (eff.policy.value !== 'local' && !ctx.owner.imagenConfigured) confirm += `\n${IMAGEN_OFF_REASON}`;
  return { ok: true, next, change: { setting: 'provider', before, after: provider }, confirm };
}

function safetyChange(cmd: Extract<SettingsCommand, { kind: `safety-${string}` }>, ctx: ChangeContext): ChangeResult {
  const next = clone(ctx.current);
  const before = {
    blockedWords: ctx.current.safety?.blockedWords ?? [],
    ...(ctx.current.safety?.flagged ? { flagged: ctx.current.safety.flagged } : {}),
    ...(ctx.current.safety?.stealth !== undefined ? { stealth: ctx.current.safety.stealth } : {}),
  };
  if (cmd.kind === 'safety-stealth') {
    next.safety = { ...before, stealth: cmd.allowed };
    return {
      ok: true,
      next,
      change: { setting: 'safety.stealth', before: before.stealth ?? null, after: cmd.allowed },
      confirm: cmd.allowed
        ? '✅ Private results: **allowed** (members with /prefs stealth get their /imagine results as messages only they see; moderators cannot see those).'
        : '✅ Private results: **not allowed** (every result is posted in the channel).',
    };
  }
  if (cmd.kind === 'safety-flagged') {
    const parsed = z.enum(FLAGGED_ACTIONS, { error: `flagged must be one of ${FLAGGED_ACTIONS.join(', ')}` }).safeParse(cmd.action);
    if (!parsed.success) return refuse(firstIssue(parsed.error));
    const action: FlaggedAction = parsed.data;
    next.safety = { ...before, flagged: action };
    const what = {
      block: 'are not posted',
      blur: 'are posted blurred, as spoilers',
      allow: 'are posted as they are in age-restricted channels, blurred as spoilers elsewhere',
    }[action];
    return {
      ok: true,
      next,
      change: { setting: 'safety.flagged', before: before.flagged ?? null, after: action },
      confirm: `✅ Flagged images: **${action}** (images the safety checker flags ${what}).`,
    };
  }
  const phrase = normalizePhrase(cmd.phrase);
  const checked = z.string().min(1, 'the phrase is empty').max(MAX_PHRASE_LENGTH, `a phrase must be at most ${MAX_PHRASE_LENGTH} characters`).safeParse(phrase);
  if (!checked.success) return refuse(firstIssue(checked.error));
  const list = before.blockedWords;
  if (cmd.kind === 'safety-block') {
    if (list.includes(phrase)) return refuse(`"${phrase}" is already blocked.`);
    if (list.length >= MAX_BLOCKED_PHRASES) return refuse(`This server already blocks ${MAX_BLOCKED_PHRASES} phrases (the most); unblock some first.`);
    next.safety = { ...before, blockedWords: [...list, phrase] };
    return {
      ok: true,
      next,
      change: { setting: 'safety.blockedWords', before: list, after: next.safety.blockedWords },
      confirm: `✅ Prompts containing "${phrase}" (whole words, any case) are refused. ${next.safety.blockedWords.length} blocked in all.`,
    };
  }
  if (!list.includes(phrase)) return refuse(`"${phrase}" is not blocked.`);
  next.safety = { ...before, blockedWords: without(list, phrase) };
  return {
    ok: true,
    next,
    change: { setting: 'safety.blockedWords', before: list, after: next.safety.blockedWords },
    confirm: `✅ "${phrase}" is no longer blocked.`,
  };
}

function defaultsChange(cmd: Extract<SettingsCommand, { kind: 'defaults' }>, ctx: ChangeContext): ChangeResult {
  const v = cmd.values;
  if (Object.values(v).every((x) => x === undefined)) return refuse('Give at least one default to change; `/settings reset defaults` clears them.');
  const limits = effectiveSettings(ctx.current, ctx.owner).limits;
  const schema = z.object({
    negativePrompt: z.string().trim().min(1, 'the negative prompt is empty').max(1000, 'the negative prompt must be at most 1000 characters').optional(),
    steps: z
      .number()
      .int('steps must be a whole number')
      .min(1, 'steps must be at least 1')
      .max(limits.maxSteps.value, `default steps must be at most ${limits.maxSteps.value} (this server's max steps)`)
      .optional(),
    guidance: z
      .number()
      .min(0, 'guidance must be 0 or more')
      .max(limits.maxGuidance.value, `default guidance must be at most ${limits.maxGuidance.value} (the owner's ceiling ${OWNER_ENV.maxGuidance})`)
      .optional(),
    size: z
      .string()
      .trim()
      .toLowerCase()
      .superRefine((s, c) => {
        if (isPreset(s)) return;
        const size = parseWxH(s);
        const side = limits.maxSide.value;
        if (!size || [size.width, size.height].some((x) => x % SIZE_STEP !== 0 || x < SIZE_STEP || x > side)) {
          c.addIssue({
            code: 'custom',
            message: `size "${s}" must be square, portrait, landscape, wide, or WxH with sides that are multiples of ${SIZE_STEP} up to ${side}`,
          });
        }
      })
      .transform((s) => (isPreset(s) ? s : formatSize(parseWxH(s)!)))
      .optional(),
    // A server default is for diffusion models; SD3 models always sample with flow_match_euler.
    scheduler: z.enum(DIFFUSION_SCHEDULER_NAMES, { error: `scheduler must be one of ${DIFFUSION_SCHEDULER_NAMES.join(', ')}` }).optional(),
  });
  const parsed = schema.safeParse(v);
  if (!parsed.success) return refuse(`Not changed: ${firstIssue(parsed.error)}.`);
  const next = clone(ctx.current);
  const before: DefaultSettings = { ...(ctx.current.defaults ?? {}) };
  const defaults: DefaultSettings = { ...before };
  const d = parsed.data;
  if (d.negativePrompt !== undefined) defaults.negativePrompt = d.negativePrompt;
  if (d.steps !== undefined) defaults.steps = d.steps;
  if (d.guidance !== undefined) defaults.guidance = d.guidance;
  if (d.size !== undefined) defaults.size = d.size;
  if (d.scheduler !== undefined) defaults.scheduler = d.scheduler as SchedulerName;
  next.defaults = defaults;
  return { ok: true, next, change: { setting: 'defaults', before, after: defaults }, confirm: `✅ Defaults for /imagine here: ${describeDefaults(defaults)}.` };
}

export function describeDefaults(d: DefaultSettings): string {
  const parts = [
    d.negativePrompt ? `negative "${d.negativePrompt}"` : undefined,
    d.steps !== undefined ? `steps ${d.steps}` : undefined,
    d.guidance !== undefined ? `guidance ${d.guidance}` : undefined,
    d.size ? `size ${d.size}` : undefined,
    d.scheduler ? `scheduler ${d.scheduler}` : undefined,
  ].filter((p) => p !== undefined);
  return parts.length ? parts.join(', ') : "the model's own";
}

function resetChange(cmd: Extract<SettingsCommand, { kind: 'reset' }>, ctx: ChangeContext): ChangeResult {
  const section = cmd.section ?? 'all';
  if (section !== 'all' && !(SETTINGS_SECTIONS as readonly string[]).includes(section)) {
    return refuse(`There is no section "${section}"; use all or one of ${SETTINGS_SECTIONS.join(', ')}.`);
  }
  if (section === 'all') {
    return { ok: true, next: {}, change: { setting: 'reset', before: ctx.current, after: {} }, confirm: "✅ Every setting is back to the owner's defaults." };
  }
  const next = clone(ctx.current);
  const before = next[section as SettingsSection];
  delete next[section as SettingsSection];
  return {
    ok: true,
    next,
    change: { setting: `reset ${section}`, before: before ?? null, after: null },
    confirm: `✅ ${section} is back to the owner's defaults.`,
  };
}

function loraChange(cmd: Extract<SettingsCommand, { kind: `lora-${string}` }>, ctx: ChangeContext): ChangeResult {
  const installed = ctx.loras ?? [];
  const name = installed.find((l) => l.toLowerCase() === cmd.name.trim().toLowerCase());
  if (!name) return refuse(`LoRA "${cmd.name.trim()}" is not installed. ${installed.length ? `Installed: ${installed.join(', ')}.` : 'No LoRA is installed.'}`);
  const next = clone(ctx.current);
  const before = ctx.current.lora ?? { allow: [], deny: [] };
  const kind = cmd.kind === 'lora-allow' ? 'allow' : 'deny';
  const lists = listChange(kind, before, name);
  next.lora = { allow: lists.allow, deny: lists.deny };
  const confirm =
    kind === 'deny'
      ? `✅ LoRA **${name}** is denied on this server.`
      : lists.restricted
        ? `✅ Only these LoRAs are allowed on this server now: ${lists.allow.join(', ')}. (\`/settings reset lora\` allows every LoRA again.)`
        : `✅ LoRA **${name}** is allowed again.`;
  return {
    ok: true,
    next,
    change: { setting: `lora.${kind}`, before: { allow: before.allow, deny: before.deny }, after: { allow: lists.allow, deny: lists.deny } },
    confirm,
  };
}

/** Validates and applies one change to a copy of the settings. */
export function applyChange(cmd: SettingsCommand, ctx: ChangeContext): ChangeResult {
  switch (cmd.kind) {
    case 'model-default':
    case 'model-allow':
    case 'model-deny':
      return modelChange(cmd, ctx);
    case 'lora-allow':
    case 'lora-deny':
      return loraChange(cmd, ctx);
    case 'limits':
      return limitsChange(cmd, ctx);
    case 'channel-allow':
    case 'channel-deny':
      return channelChange(cmd, ctx);
    case 'provider':
      return providerChange(cmd, ctx);
    case 'safety-block':
    case 'safety-unblock':
    case 'safety-flagged':
    case 'safety-stealth':
      return safetyChange(cmd, ctx);
    case 'defaults':
      return defaultsChange(cmd, ctx);
    case 'reset':
      return resetChange(cmd, ctx);
  }
}

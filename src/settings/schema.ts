// What a server's admins may set, as stored in guild_settings.settings_json. Every field is
// optional: an absent one means "the owner's value" (environment ceilings and defaults). The
// schema checks shape only; whether a value fits the owner's ceilings is checked when it is set
// (changes.ts) and again when it is used (effective.ts), since the owner may lower a ceiling later.
import { z } from 'zod';
import { SCHEDULER_NAMES } from '../diffusion/types.js';
import { providerPolicySchema } from '../providers/policy-types.js';

/** What happens to an image the model's safety checker flagged. */
export const FLAGGED_ACTIONS = ['block', 'blur', 'allow'] as const;
export type FlaggedAction = (typeof FLAGGED_ACTIONS)[number];
/** Conservative: a flagged image is not posted until an admin says otherwise. */
export const DEFAULT_FLAGGED_ACTION: FlaggedAction = 'block';

export const SETTINGS_SECTIONS = ['model', 'limits', 'channels', 'provider', 'safety', 'defaults', 'lora'] as const;
export type SettingsSection = (typeof SETTINGS_SECTIONS)[number];

const snowflake = z.string().regex(/^\d{15,21}$/);
const modelName = z.string().regex(/^[\w.-]{1,100}$/);
const count = z.number().int().min(1);

export const MAX_BLOCKED_PHRASES = 200;
export const MAX_PHRASE_LENGTH = 100;

export const guildSettingsSchema = z.object({
  model: z
    .object({
      default: modelName.optional(),
      /** Non-empty: only these models. */
      allow: z.array(modelName).default([]),
      deny: z.array(modelName).default([]),
    })
    .optional(),
  /** LoRAs ($MODELS_DIR/loras) by name: allow/deny as for models. */
  lora: z
    .object({
      allow: z.array(z.string().regex(/^[\w][\w .+-]{0,99}$/)).default([]),
      deny: z.array(z.string().regex(/^[\w][\w .+-]{0,99}$/)).default([]),
    })
    .optional(),
  limits: z
    .object({
      maxSteps: count.optional(),
      maxSide: count.optional(),
      maxCount: count.optional(),
      maxQueuedPerUser: count.optional(),
      jobsPerHour: count.optional(),
      imagesPerDay: count.optional(),
      cooldownSeconds: count.optional(),
    })
    .optional(),
  channels: z
    .object({
      /** Non-empty: /imagine works only in these channels. */
      allow: z.array(snowflake).default([]),
      deny: z.array(snowflake).default([]),
    })
    .optional(),
  provider: z
    .object({
      // Stored `imagen` (the name before Google shut Imagen down) reads as `cloud`.
      policy: providerPolicySchema().optional(),
      /** Imagen images per day for this server; absent = no cap of the server's own. */
      imagenDailyCap: count.optional(),
    })
    .optional(),
  safety: z
    .object({
      blockedWords: z.array(z.string().min(1).max(MAX_PHRASE_LENGTH)).max(MAX_BLOCKED_PHRASES).default([]),
      flagged: z.enum(FLAGGED_ACTIONS).optional(),
      /** Members may have their results sent privately (/prefs stealth); off unless set. */
      stealth: z.boolean().optional(),
    })
    .optional(),
  defaults: z
    .object({
      negativePrompt: z.string().max(1000).optional(),
      steps: count.optional(),
      guidance: z.number().min(0).optional(),
      /** A preset name or WxH, resolved against the chosen model like /imagine's `size`. */
      size: z.string().max(11).optional(),
      scheduler: z.enum(SCHEDULER_NAMES).optional(),
    })
    .optional(),
});

export type GuildSettings = z.infer<typeof guildSettingsSchema>;
export type LimitSettings = NonNullable<GuildSettings['limits']>;
export type DefaultSettings = NonNullable<GuildSettings['defaults']>;

/** Parses stored JSON; a row that no longer fits the schema is reported, not fatal. */
export function parseStoredSettings(json: string): { settings: GuildSettings; problem?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    return { settings: {}, problem: `settings_json is not JSON: ${(err as Error).message}` };
  }
  const parsed = guildSettingsSchema.safeParse(raw);
  if (parsed.success) return { settings: parsed.data };
  // Keep the sections that still parse, so one bad field does not wipe the rest.
  const settings: Record<string, unknown> = {};
  const shape = guildSettingsSchema.shape;
  for (const section of SETTINGS_SECTIONS) {
    const value = (raw as Record<string, unknown> | null)?.[section];
    const one = shape[section].safeParse(value);
    if (one.success && one.data !== undefined) settings[section] = one.data;
  }
  return { settings: settings as GuildSettings, problem: z.prettifyError(parsed.error) };
}

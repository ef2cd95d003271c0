// What a guild may ask of /imagine: the environment's ceilings, narrowed by the guild's admin
// settings (/settings limits), plus the guild's defaults for options left empty.
import type { DiscordConfig, ImagineCeilings } from '../config/discord.js';
import type { DefaultSettings } from '../settings/schema.js';
import type { SettingsService } from '../settings/service.js';
import { loraAllowed } from '../settings/effective.js';

export interface GuildLimits extends ImagineCeilings {
  /** The guild's defaults for /imagine options left empty. */
  defaults?: DefaultSettings;
  /** The guild's default model, when it set one. */
  defaultModel?: string;
  /** The guild's allow/deny rule for LoRAs (/settings lora), when it has one. */
  loraAllowed?: (name: string) => boolean;
}

/** Largest input image accepted for image-to-image, before decoding. */
export const MAX_INPUT_IMAGE_BYTES = 20 * 1024 * 1024;

export function limitsFor(guildId: string | null, config: Pick<DiscordConfig, 'ceilings'>, settings?: Pick<SettingsService, 'effective'>): GuildLimits {
  if (!settings) return { ...config.ceilings };
  const e = settings.effective(guildId);
  return {
    maxSteps: Math.min(e.limits.maxSteps.value, config.ceilings.maxSteps),
    maxSide: Math.min(e.limits.maxSide.value, config.ceilings.maxSide),
    maxCount: Math.min(e.limits.maxCount.value, config.ceilings.maxCount),
    maxGuidance: Math.min(e.limits.maxGuidance.value, config.ceilings.maxGuidance),
    ...(config.ceilings.maxLoras !== undefined ? { maxLoras: config.ceilings.maxLoras } : {}),
    defaults: e.defaults,
    ...(e.model.default ? { defaultModel: e.model.default } : {}),
    loraAllowed: (name: string) => loraAllowed(e, name),
  };
}

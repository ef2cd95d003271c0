// What a guild may ask of /imagine. For now every guild gets the environment's ceilings;
// per-guild admin settings will narrow them here, so callers already ask per guild.
import type { DiscordConfig, ImagineCeilings } from '../config/discord.js';

export type GuildLimits = ImagineCeilings;

/** Largest input image accepted for image-to-image, before decoding. */
export const MAX_INPUT_IMAGE_BYTES = 20 * 1024 * 1024;

export function limitsFor(_guildId: string | null, config: Pick<DiscordConfig, 'ceilings'>): GuildLimits {
  return { ...config.ceilings };
}

// The bot owner's side of every limit: environment ceilings that no server may exceed, quotas
// every server gets (servers may only tighten them), and the variable that sets each, so a
// refusal can name it ("max steps 80 is above the owner's ceiling IMAGINE_MAX_STEPS=50").
import type { DiscordConfig } from '../config/discord.js';
import type { GuildProviderPolicy } from '../providers/policy-types.js';

export interface OwnerLimits {
  maxSteps: number;
  maxSide: number;
  maxCount: number;
  maxGuidance: number;
  maxQueuedPerUser: number;
  /** null: no owner quota. */
  jobsPerHour: number | null;
  imagesPerDay: number | null;
  minCooldownSeconds: number;
}

/** The environment variable behind each owner value. */
export const OWNER_ENV: Record<keyof OwnerLimits, string> = {
  maxSteps: 'IMAGINE_MAX_STEPS',
  maxSide: 'IMAGINE_MAX_SIDE',
  maxCount: 'IMAGINE_MAX_COUNT',
  maxGuidance: 'IMAGINE_MAX_GUIDANCE',
  maxQueuedPerUser: 'MAX_QUEUED_PER_USER',
  jobsPerHour: 'IMAGINE_MAX_JOBS_PER_HOUR',
  imagesPerDay: 'IMAGINE_MAX_IMAGES_PER_DAY',
  minCooldownSeconds: 'IMAGINE_MIN_COOLDOWN_S',
};

export interface OwnerSettings {
  limits: OwnerLimits;
  /** The provider policy when a server sets none (IMAGE_PROVIDER, the environment's default). */
  provider: GuildProviderPolicy;
  /** GOOGLE_API_KEY (or Vertex AI) is set: the cloud provider can draw at all. */
  imagenConfigured: boolean;
}

export const LOCAL_ONLY: GuildProviderPolicy = { provider: 'local', imagenDailyCap: null };

export function ownerSettingsFrom(
  config: Pick<DiscordConfig, 'ceilings' | 'quotas' | 'imagenConfigured'> & { app: { MAX_QUEUED_PER_USER: number } },
  provider: GuildProviderPolicy = LOCAL_ONLY,
): OwnerSettings {
  const orNull = (v: number) => (v > 0 ? v : null);
  return {
    limits: {
      ...config.ceilings,
      maxQueuedPerUser: config.app.MAX_QUEUED_PER_USER,
      jobsPerHour: orNull(config.quotas.jobsPerHour),
      imagesPerDay: orNull(config.quotas.imagesPerDay),
      minCooldownSeconds: config.quotas.minCooldownSeconds,
    },
    provider,
    imagenConfigured: config.imagenConfigured,
  };
}

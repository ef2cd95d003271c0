// Contract between the admin settings (who stores a guild's choice) and the provider policy
// (who acts on it): which provider may draw a guild's jobs, and the daily Imagen cap.

/** `local`: never Imagen. `fallback`: Imagen when no local device can run the job, the wait is too long, or the local job failed. `imagen`: always. */
export const PROVIDER_POLICIES = ['local', 'fallback', 'imagen'] as const;
export type ProviderPolicy = (typeof PROVIDER_POLICIES)[number];

export interface GuildProviderPolicy {
  provider: ProviderPolicy;
  /** Imagen images per day for this guild; null = no cap beyond the owner's. */
  imagenDailyCap: number | null;
}

/** Where the policy of a guild comes from (admin settings, falling back to the environment). */
export interface ProviderPolicySource {
  policyFor(guildId: string | null): GuildProviderPolicy;
}

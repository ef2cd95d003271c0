// Contract between the admin settings (who stores a guild's choice) and the provider policy
// (who acts on it): which provider may draw a guild's jobs, and the daily cloud cap (in images).

// The policy values live with the environment parsing (config/ needs nothing from providers/).
import type { ProviderPolicy } from '../config/provider-routing.js';
export {
  PROVIDER_POLICIES,
  normalizeProviderPolicy,
  providerPolicySchema,
  type ProviderPolicy,
} from '../config/provider-routing.js';

export interface GuildProviderPolicy {
  provider: ProviderPolicy;
  /** Cloud images per day for this guild; null = no cap beyond the owner's. (Name kept from the Imagen days.) */
  imagenDailyCap: number | null;
}

/** Where the policy of a guild comes from (admin settings, falling back to the environment). */
export interface ProviderPolicySource {
  policyFor(guildId: string | null): GuildProviderPolicy;
}

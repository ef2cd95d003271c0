// The provider policy of each guild as the provider policy reads it: the admins' choice from
// /settings provider, else the environment's default (ProviderPolicySource contract).
import type { GuildProviderPolicy, ProviderPolicySource } from '../providers/policy-types.js';
import type { SettingsStore } from './store.js';

export function settingsPolicySource(store: Pick<SettingsStore, 'get'>, envDefault: GuildProviderPolicy): ProviderPolicySource {
  return {
    policyFor(guildId: string | null): GuildProviderPolicy {
      const provider = guildId ? store.get(guildId).provider : undefined;
      return {
        provider: provider?.policy ?? envDefault.provider,
        imagenDailyCap: provider?.imagenDailyCap ?? envDefault.imagenDailyCap,
      };
    },
  };
}

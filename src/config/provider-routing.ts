// The owner's provider-routing keys (IMAGE_PROVIDER, IMAGEN_DAILY_CAP, IMAGEN_FALLBACK_WAIT_S,
// IMAGEN_CONCURRENCY), parsed here with the rest of the environment so config/ needs nothing
// from providers/. The policy values are defined here too; providers/policy-types.ts re-exports them.
import { z } from 'zod';

/**
 * `local`: never the cloud. `fallback`: the cloud when no local device can run the job, the wait
 * is too long, or the local job failed. `cloud`: always the cloud. (`imagen`, the name before
 * Google shut Imagen down, is still read as `cloud`: see normalizeProviderPolicy.)
 */
export const PROVIDER_POLICIES = ['local', 'fallback', 'cloud'] as const;
export type ProviderPolicy = (typeof PROVIDER_POLICIES)[number];

/** Old spellings still accepted wherever a policy is read (environment, /settings, stored settings). */
export const PROVIDER_POLICY_ALIASES: Readonly<Record<string, ProviderPolicy>> = { imagen: 'cloud' };

/** Trims, lower-cases and maps aliases; anything else is returned as is for zod to refuse. */
export function normalizeProviderPolicy(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  return PROVIDER_POLICY_ALIASES[s] ?? s;
}

/** A zod schema for a policy value that accepts the aliases. */
export const providerPolicySchema = (error = `must be one of ${PROVIDER_POLICIES.join(', ')}`) =>
  z.preprocess(normalizeProviderPolicy, z.enum(PROVIDER_POLICIES, { error }));

/** Owner's settings for routing to the cloud provider. */
export interface ProviderRoutingConfig {
  /** Default policy for guilds that set none. */
  policy: ProviderPolicy;
  /** Cloud images per UTC day over all guilds; null = no cap. */
  ownerDailyCap: number | null;
  /** Policy `fallback` uses the cloud when the local wait is estimated above this. */
  fallbackWaitMs: number;
  /** Cloud requests in flight at once. */
  concurrency: number;
}

export const PROVIDER_ROUTING_DEFAULTS = { policy: 'local', ownerDailyCap: 0, fallbackWaitS: 120, concurrency: 2 } as const;

const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const int = (fallback: number, min: number, max: number) =>
  z.preprocess(
    unsetIfEmpty,
    z.coerce.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).default(fallback),
  );

/** The zod shape of these keys, for the bot's environment schema. */
export const providerRoutingEnvShape = {
  IMAGE_PROVIDER: z.preprocess(
    (v) => unsetIfEmpty(normalizeProviderPolicy(v)),
    z.enum(PROVIDER_POLICIES, { error: `must be one of ${PROVIDER_POLICIES.join(', ')} (imagen is read as cloud)` }).default(PROVIDER_ROUTING_DEFAULTS.policy),
  ),
  /** 0 = no cap. */
  IMAGEN_DAILY_CAP: int(PROVIDER_ROUTING_DEFAULTS.ownerDailyCap, 0, 1_000_000),
  IMAGEN_FALLBACK_WAIT_S: int(PROVIDER_ROUTING_DEFAULTS.fallbackWaitS, 0, 86_400),
  IMAGEN_CONCURRENCY: int(PROVIDER_ROUTING_DEFAULTS.concurrency, 1, 32),
};

const routingEnvSchema = z.object(providerRoutingEnvShape);
type RoutingEnv = z.infer<typeof routingEnvSchema>;

export function providerRoutingFrom(e: RoutingEnv): ProviderRoutingConfig {
  return {
    policy: e.IMAGE_PROVIDER,
    ownerDailyCap: e.IMAGEN_DAILY_CAP > 0 ? e.IMAGEN_DAILY_CAP : null,
    fallbackWaitMs: e.IMAGEN_FALLBACK_WAIT_S * 1000,
    concurrency: e.IMAGEN_CONCURRENCY,
  };
}

/** Parses the routing keys alone; throws an Error naming each bad variable. */
export function providerRoutingFromEnv(env: Record<string, string | undefined>): ProviderRoutingConfig {
  const parsed = routingEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new Error(`Invalid configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return providerRoutingFrom(parsed.data);
}

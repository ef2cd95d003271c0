// A server's settings merged with the owner's: what actually applies, and where each value
// comes from. A server value beyond an owner ceiling (the owner lowered it after the admin set
// it) gives way to the ceiling here, so nothing stored can outrun the environment.
import type { ProviderPolicy } from '../providers/policy-types.js';
import type { OwnerLimits, OwnerSettings } from './owner.js';
import { DEFAULT_FLAGGED_ACTION, type DefaultSettings, type FlaggedAction, type GuildSettings } from './schema.js';

export type Source = 'server' | 'owner';
export interface Sourced<T> {
  value: T;
  source: Source;
}

export interface EffectiveLimits {
  maxSteps: Sourced<number>;
  maxSide: Sourced<number>;
  maxCount: Sourced<number>;
  maxGuidance: Sourced<number>;
  maxQueuedPerUser: Sourced<number>;
  /** null: no limit. */
  jobsPerHour: Sourced<number | null>;
  imagesPerDay: Sourced<number | null>;
  /** 0: none. */
  cooldownSeconds: Sourced<number>;
}

export interface EffectiveSettings {
  limits: EffectiveLimits;
  model: { default?: string; allow: string[]; deny: string[] };
  channels: { allow: string[]; deny: string[] };
  lora: { allow: string[]; deny: string[] };
  provider: { policy: Sourced<ProviderPolicy>; imagenDailyCap: number | null };
  safety: { blockedWords: string[]; flagged: Sourced<FlaggedAction>; stealth: Sourced<boolean> };
  /** Only the defaults that still fit the limits. */
  defaults: DefaultSettings;
}

const server = <T>(value: T): Sourced<T> => ({ value, source: 'server' });
const owner = <T>(value: T): Sourced<T> => ({ value, source: 'owner' });

/** At most the ceiling. */
function capped(value: number | undefined, ceiling: number): Sourced<number> {
  return value !== undefined && value <= ceiling ? server(value) : owner(ceiling);
}

/** A quota: the server's when it is stricter than the owner's (or the owner has none). */
function quota(value: number | undefined, ownerQuota: number | null): Sourced<number | null> {
  return value !== undefined && (ownerQuota === null || value <= ownerQuota) ? server(value) : owner(ownerQuota);
}

function limitsOf(s: GuildSettings['limits'], o: OwnerLimits): EffectiveLimits {
  const cooldown = s?.cooldownSeconds;
  return {
    maxSteps: capped(s?.maxSteps, o.maxSteps),
    maxSide: capped(s?.maxSide, o.maxSide),
    maxCount: capped(s?.maxCount, o.maxCount),
    maxGuidance: owner(o.maxGuidance),
    maxQueuedPerUser: capped(s?.maxQueuedPerUser, o.maxQueuedPerUser),
    jobsPerHour: quota(s?.jobsPerHour, o.jobsPerHour),
    imagesPerDay: quota(s?.imagesPerDay, o.imagesPerDay),
    cooldownSeconds: cooldown !== undefined && cooldown >= o.minCooldownSeconds ? server(cooldown) : owner(o.minCooldownSeconds),
  };
}

function defaultsOf(d: DefaultSettings | undefined, limits: EffectiveLimits): DefaultSettings {
  const out: DefaultSettings = {};
  if (!d) return out;
  if (d.negativePrompt) out.negativePrompt = d.negativePrompt;
  if (d.steps !== undefined && d.steps <= limits.maxSteps.value) out.steps = d.steps;
  if (d.guidance !== undefined && d.guidance <= limits.maxGuidance.value) out.guidance = d.guidance;
  if (d.size) out.size = d.size;
  if (d.scheduler) out.scheduler = d.scheduler;
  return out;
}

export function effectiveSettings(s: GuildSettings, o: OwnerSettings): EffectiveSettings {
  const limits = limitsOf(s.limits, o.limits);
  return {
    limits,
    model: { ...(s.model?.default ? { default: s.model.default } : {}), allow: s.model?.allow ?? [], deny: s.model?.deny ?? [] },
    channels: { allow: s.channels?.allow ?? [], deny: s.channels?.deny ?? [] },
    lora: { allow: s.lora?.allow ?? [], deny: s.lora?.deny ?? [] },
    provider: {
      policy: s.provider?.policy ? server(s.provider.policy) : owner(o.provider.provider),
      imagenDailyCap: s.provider?.imagenDailyCap ?? o.provider.imagenDailyCap,
    },
    safety: {
      blockedWords: s.safety?.blockedWords ?? [],
      flagged: s.safety?.flagged ? server(s.safety.flagged) : owner(DEFAULT_FLAGGED_ACTION),
      stealth: s.safety?.stealth !== undefined ? server(s.safety.stealth) : owner(false),
    },
    defaults: defaultsOf(s.defaults, limits),
  };
}

/** Allowed unless denied; when an allow list exists, only what it names. */
function listed(allow: string[], deny: string[], item: string): boolean {
  if (deny.includes(item)) return false;
  return allow.length === 0 || allow.includes(item);
}

export function modelAllowed(e: EffectiveSettings, model: string): boolean {
  return listed(e.model.allow, e.model.deny, model);
}

export function loraAllowed(e: EffectiveSettings, lora: string): boolean {
  return listed(e.lora.allow, e.lora.deny, lora);
}

export function channelAllowed(e: EffectiveSettings, channelId: string): boolean {
  return listed(e.channels.allow, e.channels.deny, channelId);
}

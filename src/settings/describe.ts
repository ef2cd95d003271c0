// `/settings view`: the guild's effective settings, each marked with where it comes from (set
// on this server, or the owner's value and the variable that sets it).
import { describeDefaults, formatLimit, IMAGEN_OFF_REASON, LIMIT_LABELS, type LimitKey } from './changes.js';
import { modelAllowed, type EffectiveSettings, type Sourced } from './effective.js';
import { OWNER_ENV, type OwnerSettings } from './owner.js';

const LIMIT_ORDER: LimitKey[] = ['maxSteps', 'maxSide', 'maxCount', 'maxQueuedPerUser', 'jobsPerHour', 'imagesPerDay', 'cooldownSeconds'];

function origin<T>(v: Sourced<T>, env: string): string {
  return v.source === 'server' ? 'set here' : `owner: ${env}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function describeSettings(e: EffectiveSettings, owner: OwnerSettings, installedModels: string[], defaultModel?: string): string {
  const lines: string[] = ["**Settings for this server** (`set here` = by this server's admins; `owner` = the bot owner's value)"];

  const allowed = installedModels.filter((m) => modelAllowed(e, m));
  const fallbackDefault = e.model.default ?? defaultModel;
  lines.push(
    `**Models** default: ${fallbackDefault ?? 'the first installed'} (${e.model.default ? 'set here' : 'owner: DEFAULT_MODEL'}) · ` +
      `allowed: ${e.model.allow.length || e.model.deny.length ? allowed.join(', ') || 'none' : 'all'}` +
      (e.model.deny.length ? ` · denied: ${e.model.deny.join(', ')}` : ''),
  );

  if (e.lora.allow.length || e.lora.deny.length) {
    const allowedLoras = e.lora.allow.filter((l) => !e.lora.deny.includes(l));
    lines.push(
      `**LoRAs** allowed: ${e.lora.allow.length ? allowedLoras.join(', ') || 'none' : 'all'}${e.lora.deny.length ? ` · denied: ${e.lora.deny.join(', ')}` : ''}`,
    );
  }

  const limits = LIMIT_ORDER.map((k) => {
    const v = e.limits[k];
    const env = OWNER_ENV[k === 'cooldownSeconds' ? 'minCooldownSeconds' : k];
    return `• ${LIMIT_LABELS[k]}: ${formatLimit(k, v.value)} (${origin(v, env)})`;
  });
  lines.push('**Limits**', ...limits, `• max guidance: ${e.limits.maxGuidance.value} (owner: ${OWNER_ENV.maxGuidance})`);

  const c = e.channels;
  const mention = (ids: string[]) => ids.map((id) => `<#${id}>`).join(', ');
  const channels = c.allow.length ? `only in ${mention(c.allow)}` : 'everywhere';
  lines.push(`**Channels** /imagine works ${channels}${c.deny.length ? `, not in ${mention(c.deny)}` : ''}`);

  const p = e.provider;
  lines.push(
    `**Provider** ${p.policy.value} (${p.policy.source === 'server' ? 'set here' : "owner's default"}) · cloud daily cap: ${p.imagenDailyCap ?? 'none'}` +
      (owner.imagenConfigured ? '' : `\n${IMAGEN_OFF_REASON}`),
  );

  const words = e.safety.blockedWords;
  lines.push(
    `**Safety** blocked words: ${words.length ? clip(words.map((w) => `"${w}"`).join(', '), 600) : 'none'} · ` +
      `flagged images: ${e.safety.flagged.value} (${e.safety.flagged.source === 'server' ? 'set here' : 'default'}) · ` +
      `private (stealth) results: ${e.safety.stealth.value ? 'allowed' : 'not allowed'} (${e.safety.stealth.source === 'server' ? 'set here' : 'default'})`,
  );
  lines.push(`**Defaults** ${describeDefaults(e.defaults)}`);
  return clip(lines.join('\n'), 2000);
}

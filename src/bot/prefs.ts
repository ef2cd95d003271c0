// Personal defaults (/prefs) as a job uses them: a model this server does not allow (or that is
// no longer installed) is skipped, count and size are clamped to the server's limits
// (imagine-options.ts), and explicit options always win. Admission checks the result again.
import type { UserPrefs } from '../store/prefs.js';
import { modelAllowed } from '../settings/effective.js';
import type { BotContext } from './context.js';
import type { PersonalDefaults } from './imagine-options.js';

/** The user's defaults that may apply in this guild. */
export function personalDefaults(ctx: Pick<BotContext, 'prefs' | 'settings' | 'catalog'>, userId: string, guildId: string | null): PersonalDefaults {
  const p = ctx.prefs.get(userId);
  const out: PersonalDefaults = {};
  if (p.model && ctx.catalog.lookup(p.model).ok && modelAllowed(ctx.settings.effective(guildId), p.model)) out.model = p.model;
  if (p.size) out.size = p.size;
  if (p.negative) out.negative = p.negative;
  if (p.count !== undefined) out.count = p.count;
  return out;
}

/** Stealth: the user asked for private results and this server allows them. */
export function stealthFor(ctx: Pick<BotContext, 'prefs' | 'settings'>, userId: string, guildId: string | null): boolean {
  return ctx.prefs.get(userId).stealth === true && ctx.settings.effective(guildId).safety.stealth.value;
}

/** Remix on: 🔄 and V open a modal with the prompt before the job is queued. */
export function remixOn(ctx: Pick<BotContext, 'prefs'>, userId: string): boolean {
  return ctx.prefs.get(userId).remix === true;
}

export const PREF_LABELS: Record<keyof UserPrefs, string> = {
  model: 'model',
  size: 'size',
  negative: 'negative prompt',
  count: 'images per job',
  remix: 'remix (edit the prompt before 🔄 and V)',
  stealth: 'stealth (results only you see)',
};

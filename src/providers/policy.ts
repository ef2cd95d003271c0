// Which provider draws a job: the guild's policy (local / fallback / cloud) applied to what is
// true right now (is the cloud provider set up, are there local devices, how long is the local
// wait, how much of today's cloud allowance is left). Pure functions, so every case is a table row
// in the tests; src/bot/provider-routing.ts gathers the facts and acts on the answer.
// ("Imagen" in the names below is the cloud provider, now Google's Gemini image models: the names
// are kept from before Google shut Imagen down, as are the IMAGEN_* keys and stored provider ids.)
import type { GuildProviderPolicy, ProviderPolicy, ProviderPolicySource } from './policy-types.js';

export const DAY_MS = 86_400_000;

/** Midnight UTC of the day `now` falls in: Imagen caps count from here. */
export function utcDayStart(now: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS;
}

/** Imagen images already asked for today (queued, running and drawn ones). */
export interface ImagenUsageToday {
  /** In this guild. */
  guild: number;
  /** In every guild together (the owner pays for all of them). */
  all: number;
}

export interface ImagenCaps {
  /** The guild admins' cap (GuildProviderPolicy.imagenDailyCap); null = none. */
  guild: number | null;
  /** The owner's cap over all guilds (IMAGEN_DAILY_CAP); null = none. */
  owner: number | null;
}

export interface RouteFacts {
  policy: ProviderPolicy;
  /** GOOGLE_API_KEY is set. */
  imagenConfigured: boolean;
  /** Why Imagen cannot draw this job at all (image-to-image, upscale), if it cannot. */
  imagenUnsupported?: string;
  /** The job asks for Imagen itself: 🔄 or V on an image Imagen drew. */
  askedForImagen?: boolean;
  /** Local devices that could run the job (0: none on this bot). */
  localDevices: number;
  /** Estimated wait before a local device would start the job. */
  localWaitMs: number;
  /** Above this local wait, policy `fallback` sends the job to Imagen. */
  fallbackWaitMs: number;
  /** Images the job would draw. */
  images: number;
  usage: ImagenUsageToday;
  caps: ImagenCaps;
}

/** Why a job goes to Imagen: shown to the user while it waits. */
export type ImagenReason = 'policy' | 'asked' | 'no_local_device' | 'long_wait';

export type RouteDecision =
  | { provider: 'local' /** Said alongside the queue position (e.g. why Imagen was not used). */; note?: string }
  | { provider: 'imagen'; reason: ImagenReason }
  | { refused: string };

const RESETS = 'it resets at 00:00 UTC';

/** Why Imagen may not draw `images` more images today, or undefined when the caps allow it. */
export function imagenCapProblem(images: number, usage: ImagenUsageToday, caps: ImagenCaps): string | undefined {
  const check = (cap: number | null, used: number, whose: string) => {
    if (cap === null || used + images <= cap) return undefined;
    const left = Math.max(0, cap - used);
    if (left === 0) return `${whose} cloud allowance for today is used up (${cap} ${cap === 1 ? 'image' : 'images'}; ${RESETS}).`;
    return `${whose} cloud allowance for today has ${left} ${left === 1 ? 'image' : 'images'} left of ${cap}, and this job needs ${images} (${RESETS}).`;
  };
  return check(caps.owner, usage.all, "The bot's") ?? check(caps.guild, usage.guild, "This server's");
}

/** The sentence for a job nothing on this bot can draw. */
function nowhere(f: RouteFacts): string {
  if (f.imagenUnsupported) return `${f.imagenUnsupported} This bot has no local device, so it cannot run it.`;
  if (!f.imagenConfigured) {
    return 'This bot has no local device and the cloud provider is off (GOOGLE_API_KEY is not set): the bot owner needs to set DEVICES or GOOGLE_API_KEY.';
  }
  return "This bot has no local device, and this server's admins keep jobs off the cloud provider (provider policy `local`): an admin can switch the policy to `fallback` or `cloud`.";
}

/** Local when a device exists, else a refusal saying why nothing else can draw it. */
function localOr(f: RouteFacts): RouteDecision {
  return f.localDevices > 0 ? { provider: 'local' } : { refused: nowhere(f) };
}

/**
 * The provider for one job:
 * - Imagen off (no key) or unable to draw the job: local, whatever the policy.
 * - `local`: local (🔄/V on an old Imagen result stay local too).
 * - `cloud`: the cloud provider; over a daily cap the job is refused.
 * - `fallback`: Imagen when there is no local device, the local wait exceeds the threshold, or
 *   the job asks for Imagen (🔄/V on an Imagen result); over a daily cap it stays local (with a
 *   note) where a device exists, else it is refused.
 */
export function decideProvider(f: RouteFacts): RouteDecision {
  if (!f.imagenConfigured || f.imagenUnsupported !== undefined || f.policy === 'local') return localOr(f);
  const capProblem = imagenCapProblem(f.images, f.usage, f.caps);
  if (f.policy === 'cloud') return capProblem ? { refused: capProblem } : { provider: 'imagen', reason: 'policy' };

  const reason: ImagenReason | undefined = f.askedForImagen
    ? 'asked'
    : f.localDevices === 0
      ? 'no_local_device'
      : f.localWaitMs > f.fallbackWaitMs
        ? 'long_wait'
        : undefined;
  if (reason === undefined) return { provider: 'local' };
  if (!capProblem) return { provider: 'imagen', reason };
  return f.localDevices > 0 ? { provider: 'local', note: `${capProblem} So this job waits for the local queue.` } : { refused: capProblem };
}

export interface FailureFacts {
  policy: ProviderPolicy;
  imagenConfigured: boolean;
  /** Why Imagen cannot draw the job, if it cannot (anything but text-to-image). */
  imagenUnsupported?: string;
  images: number;
  usage: ImagenUsageToday;
  caps: ImagenCaps;
}

/** A local job failed for good: re-run it on Imagen (once)? Only under policy `fallback`, within the caps. */
export function fallbackAfterFailure(f: FailureFacts): boolean {
  return f.policy === 'fallback' && f.imagenConfigured && f.imagenUnsupported === undefined && imagenCapProblem(f.images, f.usage, f.caps) === undefined;
}

/** The same policy for every guild: the environment's default, for guilds without settings. */
export function envPolicySource(policy: GuildProviderPolicy): ProviderPolicySource {
  return { policyFor: () => ({ ...policy }) };
}

// ---- environment ----------------------------------------------------------------------------
// Parsed in src/config/provider-routing.ts (config/ needs nothing from providers/); re-exported here.
export {
  PROVIDER_ROUTING_DEFAULTS,
  providerRoutingEnvShape,
  providerRoutingFrom,
  providerRoutingFromEnv,
  type ProviderRoutingConfig,
} from '../config/provider-routing.js';

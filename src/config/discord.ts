// The Discord side of the environment (the general keys come from env.ts' loadEnv),
// validated with zod so a missing or malformed setting stops the bot with one sentence that
// names the variable and the fix, not a stack trace.
import { resolve } from 'node:path';
import { z } from 'zod';
import { loadEnv, type AppConfig } from './env.js';
import { googleConfigured, googleImageConfigFromEnv, GoogleConfigError, type GoogleImageSettings } from './google.js';
import { providerRoutingEnvShape, providerRoutingFrom, type ProviderRoutingConfig } from './provider-routing.js';

/** A configuration problem; `message` is one sentence meant for the person running the bot. */
export class DiscordConfigError extends Error {
  override readonly name = 'DiscordConfigError';
}

const SNOWFLAKE = /^\d{15,21}$/;
const SETUP_DOC = 'see docs/discord-setup.md';

/** Empty strings in .env mean "not set". */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

const intFrom = (def: number, min: number, max: number) => optional(z.coerce.number().int().min(min).max(max)).default(def);
const numberFrom = (def: number, min: number, max: number) => optional(z.coerce.number().min(min).max(max)).default(def);

export const discordEnvShape = {
  DISCORD_TOKEN: optional(z.string().trim()),
  DISCORD_APPLICATION_ID: optional(z.string().trim().regex(SNOWFLAKE, 'must be a snowflake (15–21 digits)')),
  DEV_GUILD_ID: optional(z.string().trim().regex(SNOWFLAKE, 'must be a snowflake (15–21 digits)')),
  DISCORD_API_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
  // Ceilings for /imagine: server admins (/settings limits) may only go below them.
  IMAGINE_MAX_STEPS: intFrom(50, 1, 150),
  // /imagine sizes are multiples of 64, so a ceiling between two of them would be misread.
  IMAGINE_MAX_SIDE: optional(z.coerce.number().int().min(64).max(2048).multipleOf(64, 'must be a multiple of 64')).default(1536),
  IMAGINE_MAX_COUNT: intFrom(4, 1, 4),
  IMAGINE_MAX_GUIDANCE: numberFrom(20, 0, 30),
  // LoRAs per job (the /imagine option and <lora:…> tags together); 0 turns LoRAs off.
  IMAGINE_MAX_LORAS: intFrom(3, 0, 8),
  // Per-user quotas for every server (0 = none); server admins may only tighten them.
  IMAGINE_MAX_JOBS_PER_HOUR: intFrom(0, 0, 100_000),
  IMAGINE_MAX_IMAGES_PER_DAY: intFrom(0, 0, 1_000_000),
  IMAGINE_MIN_COOLDOWN_S: intFrom(0, 0, 86_400),
  VARIATION_STRENGTH: numberFrom(0.6, 0.05, 1),
  // Vary (Subtle) and Vary (Strong) on a single image: image-to-image strengths.
  VARY_SUBTLE_STRENGTH: numberFrom(0.35, 0.05, 1),
  VARY_STRONG_STRENGTH: numberFrom(0.75, 0.05, 1),
  /** Discord allows about 5 edits per 5 s per channel; 2 s per job keeps several jobs under that. */
  PROGRESS_EDIT_INTERVAL_MS: intFrom(2000, 200, 60_000),
  // The delivery outbox: a finished job's message is retried with doubling waits from
  // DELIVERY_RETRY_BASE_MS up to DELIVERY_RETRY_MAX_MS, for DELIVERY_GIVE_UP_MS (24 h).
  DELIVERY_RETRY_BASE_MS: intFrom(2000, 50, 3600_000),
  DELIVERY_RETRY_MAX_MS: intFrom(300_000, 100, 24 * 3600_000),
  DELIVERY_GIVE_UP_MS: intFrom(24 * 3600_000, 60_000, 30 * 24 * 3600_000),
  /** Test hook: added to the bot's clock when it judges an interaction token's age. */
  BOT_CLOCK_OFFSET_MS: intFrom(0, 0, 7 * 24 * 3600_000),
  // When the cloud provider draws (IMAGE_PROVIDER, IMAGEN_DAILY_CAP, IMAGEN_FALLBACK_WAIT_S, IMAGEN_CONCURRENCY).
  ...providerRoutingEnvShape,
};

const discordEnvSchema = z.object(discordEnvShape);

export interface ImagineCeilings {
  maxSteps: number;
  maxSide: number;
  maxCount: number;
  maxGuidance: number;
  /** IMAGINE_MAX_LORAS (absent: the default, 3). */
  maxLoras?: number;
}

/** Per-user quotas the owner sets for every server (0 = none). */
export interface OwnerQuotas {
  jobsPerHour: number;
  imagesPerDay: number;
  minCooldownSeconds: number;
}

/** What every serving process needs (the bot, and `npm run api` without any Discord token). */
export interface ServiceConfig {
  dataDir: string;
  modelsDir: string;
  defaultModel?: string;
  ceilings: ImagineCeilings;
  quotas: OwnerQuotas;
  /** GOOGLE_API_KEY (or Vertex AI) is set, so the cloud provider can draw (admins see why not when it is off). */
  imagenConfigured: boolean;
  /** The cloud provider's model and connection (src/config/google.ts), with startup warnings. */
  google: GoogleImageSettings;
  /** The default provider policy, the owner's Imagen cap, the fallback wait threshold. */
  providerRouting: ProviderRoutingConfig;
  variationStrength: number;
  /** Vary (Subtle) / Vary (Strong): image-to-image strengths of the tools after U. */
  varyStrength: { subtle: number; strong: number };
  progressIntervalMs: number;
  /** How the delivery outbox retries a job's last message. */
  deliveryRetry: { baseMs: number; maxMs: number; giveUpMs: number };
  clockOffsetMs: number;
  /** The general settings (devices, queue caps, …) for the queue. */
  app: AppConfig;
}

export interface DiscordConfig extends ServiceConfig {
  token: string;
  applicationId: string;
  devGuildId?: string;
  apiUrl?: string;
}

/**
 * A bot token is three base64url parts; the first is the bot's user id, which is also its
 * application id for every application made since 2019.
 */
export function applicationIdFromToken(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[\w-]+$/.test(p))) return undefined;
  const id = Buffer.from(parts[0], 'base64url').toString('utf8');
  return SNOWFLAKE.test(id) ? id : undefined;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${String(i.path[0] ?? 'environment')} ${i.message}`).join('; ');
}

/**
 * Parses the whole environment: the Discord keys here (DiscordConfigError, one sentence), the
 * general ones with env.ts' loadEnv (its "Invalid configuration" message names every bad key).
 */
export function loadDiscordConfig(env: NodeJS.ProcessEnv = process.env): DiscordConfig {
  const e = parseDiscordEnv(env);
  if (!e.DISCORD_TOKEN) {
    throw new DiscordConfigError(`DISCORD_TOKEN is not set: copy your bot's token from the Developer Portal into .env (${SETUP_DOC}).`);
  }
  const fromToken = applicationIdFromToken(e.DISCORD_TOKEN);
  if (!fromToken && !e.DISCORD_APPLICATION_ID) {
    throw new DiscordConfigError(
      `DISCORD_TOKEN does not look like a bot token (three dot-separated parts starting with the bot's id): copy it again from the Bot page of the Developer Portal (${SETUP_DOC}).`,
    );
  }
  return {
    ...serviceConfigFrom(e, env),
    token: e.DISCORD_TOKEN,
    applicationId: e.DISCORD_APPLICATION_ID ?? fromToken!,
    devGuildId: e.DEV_GUILD_ID,
    apiUrl: e.DISCORD_API_URL?.replace(/\/+$/, ''),
  };
}

/** The same limits, quotas, provider and queue settings as the bot, without any Discord key required (`npm run api`). */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return serviceConfigFrom(parseDiscordEnv(env), env);
}

function parseDiscordEnv(env: NodeJS.ProcessEnv): z.infer<typeof discordEnvSchema> {
  const parsed = discordEnvSchema.safeParse(env);
  if (!parsed.success) throw new DiscordConfigError(`Invalid setting: ${issues(parsed.error)} (${SETUP_DOC}).`);
  return parsed.data;
}

function serviceConfigFrom(e: z.infer<typeof discordEnvSchema>, env: NodeJS.ProcessEnv): ServiceConfig {
  const app = loadEnv(env);
  let google: GoogleImageSettings;
  try {
    google = googleImageConfigFromEnv(env);
  } catch (err) {
    if (err instanceof GoogleConfigError) throw new DiscordConfigError(err.message);
    throw err;
  }
  return {
    dataDir: resolve(app.DATA_DIR),
    modelsDir: resolve(app.MODELS_DIR),
    defaultModel: app.DEFAULT_MODEL,
    ceilings: {
      maxSteps: e.IMAGINE_MAX_STEPS,
      maxSide: e.IMAGINE_MAX_SIDE,
      maxCount: e.IMAGINE_MAX_COUNT,
      maxGuidance: e.IMAGINE_MAX_GUIDANCE,
      maxLoras: e.IMAGINE_MAX_LORAS,
    },
    quotas: {
      jobsPerHour: e.IMAGINE_MAX_JOBS_PER_HOUR,
      imagesPerDay: e.IMAGINE_MAX_IMAGES_PER_DAY,
      minCooldownSeconds: e.IMAGINE_MIN_COOLDOWN_S,
    },
    imagenConfigured: googleConfigured(google.config),
    google,
    providerRouting: providerRoutingFrom(e),
    variationStrength: e.VARIATION_STRENGTH,
    varyStrength: { subtle: e.VARY_SUBTLE_STRENGTH, strong: e.VARY_STRONG_STRENGTH },
    progressIntervalMs: e.PROGRESS_EDIT_INTERVAL_MS,
    deliveryRetry: { baseMs: e.DELIVERY_RETRY_BASE_MS, maxMs: Math.max(e.DELIVERY_RETRY_BASE_MS, e.DELIVERY_RETRY_MAX_MS), giveUpMs: e.DELIVERY_GIVE_UP_MS },
    clockOffsetMs: e.BOT_CLOCK_OFFSET_MS,
    app,
  };
}

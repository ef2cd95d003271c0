// The owner's settings for the cloud provider (Google's Gemini image models, "Nano Banana"), read
// from the environment and checked with zod. Kept in config/ so the Discord config and main need
// nothing from providers/ to read them.
//
// Google shut every Imagen model down (Developer API and Vertex AI alike). Its migration table
// (https://firebase.google.com/docs/ai-logic/imagen-models-migration) maps them to:
//   imagen-4.0-fast-generate-001  → gemini-3.1-flash-image, thinking level MINIMAL   (`fast`)
//   imagen-4.0-generate-001       → gemini-3.1-flash-image, thinking level HIGH      (`standard`)
//   imagen-4.0-ultra-generate-001 → gemini-3-pro-image                              (`ultra`)
// GOOGLE_IMAGE_MODEL takes those shorthands or a full model id; IMAGEN_MODEL is its deprecated
// alias. An explicit `imagen-…` id still goes to the old :predict endpoint, for owners whose
// project was granted an extension; everyone else gets Google's "not found" from it.
import { z } from 'zod';

export const THINKING_LEVELS = ['MINIMAL', 'LOW', 'MEDIUM', 'HIGH'] as const;
export type ThinkingLevelName = (typeof THINKING_LEVELS)[number];

/** GOOGLE_IMAGE_MODEL shorthands, per Google's migration table above. */
export const GEMINI_IMAGE_VARIANTS = {
  fast: { model: 'gemini-3.1-flash-image', thinkingLevel: 'MINIMAL' },
  standard: { model: 'gemini-3.1-flash-image', thinkingLevel: 'HIGH' },
  ultra: { model: 'gemini-3-pro-image' },
} as const satisfies Record<string, { model: string; thinkingLevel?: ThinkingLevelName }>;
export type GeminiImageVariant = keyof typeof GEMINI_IMAGE_VARIANTS;

/** Where Imagen ids went (for the warning an owner with an old id sees). */
const IMAGEN_REPLACEMENTS: Record<string, GeminiImageVariant> = {
  'imagen-4.0-fast-generate-001': 'fast',
  'imagen-4.0-generate-001': 'standard',
  'imagen-4.0-ultra-generate-001': 'ultra',
};

export interface GoogleImageConfig {
  /** `gemini`: generateContent with an image response. `imagen`: the shut-down :predict endpoint (explicit imagen-… ids only). */
  api: 'gemini' | 'imagen';
  /** Full model id, e.g. gemini-3.1-flash-image. */
  model: string;
  /** Sent as thinkingConfig.thinkingLevel; unset leaves the model's default. */
  thinkingLevel?: ThinkingLevelName;
  /** Gemini Developer API key, or a Vertex AI express-mode key with `vertex`. */
  apiKey?: string;
  /** Vertex AI instead of the Developer API: express mode (apiKey) or project/location with Google's default credentials. */
  vertex?: { project?: string; location?: string };
  /** Override of the API's base URL (tests, proxies). */
  baseUrl?: string;
  /** Imagen only (legacy): PersonGeneration / SafetyFilterLevel names as Google spells them. */
  personGeneration?: 'DONT_ALLOW' | 'ALLOW_ADULT' | 'ALLOW_ALL';
  safetyFilterLevel?: string;
  /** Imagen only (legacy): Google's SynthID watermark; Imagen honoured a seed only with it off. */
  addWatermark: boolean;
  /** Limit for one HTTP attempt. */
  timeoutMs: number;
  /** The whole call, attempts and backoff waits included, ends within max(timeoutMs, maxRetryMs). */
  maxRetryMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Attempts per call, the first one included. */
  maxAttempts: number;
}

export const GOOGLE_IMAGE_DEFAULTS = {
  variant: 'fast',
  addWatermark: true,
  timeoutMs: 60_000,
  maxRetryMs: 120_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 20_000,
  maxAttempts: 5,
  vertexLocation: 'global',
} as const;

/** A bad cloud-provider setting; the message names each variable. */
export class GoogleConfigError extends Error {
  override readonly name = 'GoogleConfigError';
}

// dotenv leaves unset-but-listed variables as ''; treat them as unset.
const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(unsetIfEmpty, schema.optional());
const upper = (v: unknown) => (typeof v === 'string' ? v.trim().toUpperCase() : v);
const millis = (fallback: number, min: number) => z.preprocess(unsetIfEmpty, z.coerce.number().int().min(min).default(fallback));
const modelId = optional(
  z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'expected fast, standard, ultra or a model id like gemini-3.1-flash-image'),
);

const envSchema = z.object({
  GOOGLE_API_KEY: optional(z.string().trim()),
  GOOGLE_IMAGE_MODEL: modelId,
  IMAGEN_MODEL: modelId,
  GOOGLE_IMAGE_THINKING_LEVEL: optional(z.preprocess(upper, z.enum(THINKING_LEVELS))),
  GOOGLE_API_BASE_URL: optional(z.url({ protocol: /^https?$/ })),
  GOOGLE_GENAI_USE_VERTEXAI: optional(z.stringbool()),
  GOOGLE_CLOUD_PROJECT: optional(z.string().trim()),
  GOOGLE_CLOUD_LOCATION: optional(
    z
      .string()
      .trim()
      .regex(/^[a-z0-9-]+$/, 'expected a location like global or us-central1'),
  ),
  IMAGEN_PERSON_GENERATION: optional(z.preprocess(upper, z.enum(['DONT_ALLOW', 'ALLOW_ADULT', 'ALLOW_ALL']))),
  IMAGEN_SAFETY_FILTER_LEVEL: optional(z.preprocess(upper, z.enum(['BLOCK_LOW_AND_ABOVE', 'BLOCK_MEDIUM_AND_ABOVE', 'BLOCK_ONLY_HIGH', 'BLOCK_NONE']))),
  IMAGEN_ADD_WATERMARK: optional(z.stringbool()),
  IMAGEN_TIMEOUT_MS: millis(GOOGLE_IMAGE_DEFAULTS.timeoutMs, 1),
  IMAGEN_MAX_RETRY_MS: millis(GOOGLE_IMAGE_DEFAULTS.maxRetryMs, 0),
});

export interface GoogleImageSettings {
  config: GoogleImageConfig;
  /** For the startup log: deprecated names in use, shut-down models asked for. */
  warnings: string[];
}

/** True when the cloud provider can authenticate at all (a key, or Vertex AI with a project). */
export function googleConfigured(c: Pick<GoogleImageConfig, 'apiKey' | 'vertex'>): boolean {
  return Boolean(c.apiKey) || Boolean(c.vertex?.project);
}

/** Reads the cloud provider's settings; throws a GoogleConfigError naming each bad variable. */
export function googleImageConfigFromEnv(env: Record<string, string | undefined>): GoogleImageSettings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new GoogleConfigError(`Cloud provider (Gemini) settings are invalid: ${problems}`);
  }
  const e = parsed.data;
  const warnings: string[] = [];
  if (e.IMAGEN_MODEL !== undefined) {
    warnings.push(
      e.GOOGLE_IMAGE_MODEL !== undefined
        ? `IMAGEN_MODEL is deprecated and ignored: GOOGLE_IMAGE_MODEL=${e.GOOGLE_IMAGE_MODEL} is set. Remove IMAGEN_MODEL from .env.`
        : `IMAGEN_MODEL is deprecated: rename it to GOOGLE_IMAGE_MODEL in .env (IMAGEN_MODEL=${e.IMAGEN_MODEL} is used for now).`,
    );
  }
  const asked = e.GOOGLE_IMAGE_MODEL ?? e.IMAGEN_MODEL ?? GOOGLE_IMAGE_DEFAULTS.variant;
  const variant = (GEMINI_IMAGE_VARIANTS as Record<string, { model: string; thinkingLevel?: ThinkingLevelName }>)[asked.toLowerCase()];
  const model = variant?.model ?? asked;
  const api = !variant && /^imagen-/i.test(asked) ? 'imagen' : 'gemini';
  if (api === 'imagen') {
    const instead = IMAGEN_REPLACEMENTS[asked];
    warnings.push(
      `${asked} is an Imagen model, which Google has shut down: the bot still calls its :predict endpoint, but it will fail unless Google still serves it to this project.` +
        ` Set GOOGLE_IMAGE_MODEL=${instead ?? 'fast'} for its Gemini replacement${instead ? ` (${GEMINI_IMAGE_VARIANTS[instead].model})` : ''}.`,
    );
  }
  const config: GoogleImageConfig = {
    api,
    model,
    addWatermark: e.IMAGEN_ADD_WATERMARK ?? GOOGLE_IMAGE_DEFAULTS.addWatermark,
    timeoutMs: e.IMAGEN_TIMEOUT_MS,
    maxRetryMs: e.IMAGEN_MAX_RETRY_MS,
    backoffInitialMs: GOOGLE_IMAGE_DEFAULTS.backoffInitialMs,
    backoffMaxMs: GOOGLE_IMAGE_DEFAULTS.backoffMaxMs,
    maxAttempts: GOOGLE_IMAGE_DEFAULTS.maxAttempts,
  };
  const thinking = e.GOOGLE_IMAGE_THINKING_LEVEL ?? variant?.thinkingLevel;
  if (thinking && api === 'gemini') config.thinkingLevel = thinking;
  if (e.GOOGLE_API_KEY) config.apiKey = e.GOOGLE_API_KEY;
  if (e.GOOGLE_GENAI_USE_VERTEXAI) {
    config.vertex = {};
    // Express mode authenticates with the key alone; project/location only without one.
    if (!e.GOOGLE_API_KEY && e.GOOGLE_CLOUD_PROJECT) {
      config.vertex = { project: e.GOOGLE_CLOUD_PROJECT, location: e.GOOGLE_CLOUD_LOCATION ?? GOOGLE_IMAGE_DEFAULTS.vertexLocation };
    }
  }
  if (e.GOOGLE_API_BASE_URL) config.baseUrl = e.GOOGLE_API_BASE_URL;
  if (e.IMAGEN_PERSON_GENERATION) config.personGeneration = e.IMAGEN_PERSON_GENERATION;
  if (e.IMAGEN_SAFETY_FILTER_LEVEL) config.safetyFilterLevel = e.IMAGEN_SAFETY_FILTER_LEVEL;
  return { config, warnings };
}

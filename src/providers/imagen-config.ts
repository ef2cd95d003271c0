// Owner settings for the Imagen provider, read from the environment and checked with zod, plus
// what we know about each Imagen model (its label, and which request fields it honours).
import { z } from 'zod';
import { PersonGeneration, SafetyFilterLevel } from '@google/genai';
import { ProviderError } from './types.js';

/** IMAGEN_MODEL shorthands. */
export const IMAGEN_VARIANTS = {
  fast: 'imagen-4.0-fast-generate-001',
  standard: 'imagen-4.0-generate-001',
  ultra: 'imagen-4.0-ultra-generate-001',
} as const;
export type ImagenVariant = keyof typeof IMAGEN_VARIANTS;

export interface ImagenConfig {
  /** Unset means Imagen is not set up; generate() then fails with an 'auth' ProviderError. */
  apiKey?: string;
  /** Full model id, e.g. imagen-4.0-fast-generate-001. */
  model: string;
  /** Override of the API's base URL (tests, proxies). */
  baseUrl?: string;
  personGeneration?: PersonGeneration;
  safetyFilterLevel?: SafetyFilterLevel;
  /** Google's invisible SynthID watermark. Imagen only honours a seed with it off. */
  addWatermark: boolean;
  /** Limit for one HTTP attempt. */
  timeoutMs: number;
  /** The whole call, attempts and backoff waits included, ends within max(timeoutMs, maxRetryMs). */
  maxRetryMs: number;
  /** First backoff wait; doubles per attempt (with jitter) up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Attempts per call, the first one included. */
  maxAttempts: number;
}

export const IMAGEN_DEFAULTS = {
  model: IMAGEN_VARIANTS.fast,
  addWatermark: true,
  timeoutMs: 60_000,
  maxRetryMs: 120_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 20_000,
  maxAttempts: 5,
} as const;

export interface ImagenModelInfo {
  id: string;
  label: string;
  /** Imagen 3.0-generate-002 and later dropped negative prompts. */
  negativePrompt: boolean;
  /** Images one request may ask for. */
  maxImagesPerCall: number;
}

const KNOWN_MODELS: Record<string, Omit<ImagenModelInfo, 'id'>> = {
  'imagen-4.0-fast-generate-001': { label: 'Imagen 4 Fast', negativePrompt: false, maxImagesPerCall: 4 },
  'imagen-4.0-generate-001': { label: 'Imagen 4', negativePrompt: false, maxImagesPerCall: 4 },
  // Ultra is documented as one image per request; more are asked for one by one.
  'imagen-4.0-ultra-generate-001': { label: 'Imagen 4 Ultra', negativePrompt: false, maxImagesPerCall: 1 },
  'imagen-3.0-generate-002': { label: 'Imagen 3', negativePrompt: false, maxImagesPerCall: 4 },
  'imagen-3.0-generate-001': { label: 'Imagen 3', negativePrompt: true, maxImagesPerCall: 4 },
  'imagen-3.0-fast-generate-001': { label: 'Imagen 3 Fast', negativePrompt: true, maxImagesPerCall: 4 },
};

export function imagenModelInfo(id: string): ImagenModelInfo {
  const known = KNOWN_MODELS[id];
  if (known) return { id, ...known };
  // Unknown ids are newer models: assume Imagen 4's feature set.
  return { id, label: 'Imagen', negativePrompt: false, maxImagesPerCall: 4 };
}

export function imagenLabel(id: string): string {
  return `${imagenModelInfo(id).label} (${id})`;
}

// dotenv leaves unset-but-listed variables as ''; treat them as unset.
const unsetIfEmpty = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(unsetIfEmpty, schema.optional());
const upper = (v: unknown) => (typeof v === 'string' ? v.trim().toUpperCase() : v);

const PERSON_GENERATION: Record<string, PersonGeneration> = {
  dont_allow: PersonGeneration.DONT_ALLOW,
  allow_adult: PersonGeneration.ALLOW_ADULT,
  allow_all: PersonGeneration.ALLOW_ALL,
};

const millis = (fallback: number, min: number) =>
  z.preprocess(unsetIfEmpty, z.coerce.number().int().min(min).default(fallback));

const envSchema = z.object({
  GOOGLE_API_KEY: optional(z.string().trim()),
  IMAGEN_MODEL: optional(
    z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'expected fast, standard, ultra or a model id like imagen-4.0-generate-001'),
  ),
  GOOGLE_API_BASE_URL: optional(z.url({ protocol: /^https?$/ })),
  IMAGEN_PERSON_GENERATION: optional(
    z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v), z.enum(['dont_allow', 'allow_adult', 'allow_all'])),
  ),
  IMAGEN_SAFETY_FILTER_LEVEL: optional(z.preprocess(upper, z.enum(SafetyFilterLevel))),
  IMAGEN_ADD_WATERMARK: optional(z.stringbool()),
  IMAGEN_TIMEOUT_MS: millis(IMAGEN_DEFAULTS.timeoutMs, 1),
  IMAGEN_MAX_RETRY_MS: millis(IMAGEN_DEFAULTS.maxRetryMs, 0),
});

/** Reads the Imagen settings; throws a 'config' ProviderError naming each bad variable. */
export function imagenConfigFromEnv(env: Record<string, string | undefined>): ImagenConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ProviderError({
      kind: 'config',
      retryable: false,
      userMessage: `Imagen settings are invalid: ${problems}`,
    });
  }
  const e = parsed.data;
  const model = e.IMAGEN_MODEL ?? 'fast';
  const config: ImagenConfig = {
    model: model in IMAGEN_VARIANTS ? IMAGEN_VARIANTS[model as ImagenVariant] : model,
    addWatermark: e.IMAGEN_ADD_WATERMARK ?? IMAGEN_DEFAULTS.addWatermark,
    timeoutMs: e.IMAGEN_TIMEOUT_MS,
    maxRetryMs: e.IMAGEN_MAX_RETRY_MS,
    backoffInitialMs: IMAGEN_DEFAULTS.backoffInitialMs,
    backoffMaxMs: IMAGEN_DEFAULTS.backoffMaxMs,
    maxAttempts: IMAGEN_DEFAULTS.maxAttempts,
  };
  if (e.GOOGLE_API_KEY) config.apiKey = e.GOOGLE_API_KEY;
  if (e.GOOGLE_API_BASE_URL) config.baseUrl = e.GOOGLE_API_BASE_URL;
  if (e.IMAGEN_PERSON_GENERATION) config.personGeneration = PERSON_GENERATION[e.IMAGEN_PERSON_GENERATION];
  if (e.IMAGEN_SAFETY_FILTER_LEVEL) config.safetyFilterLevel = e.IMAGEN_SAFETY_FILTER_LEVEL;
  return config;
}

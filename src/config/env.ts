// One typed configuration, parsed once from the environment. Every bad variable is reported
// in a single Error so an operator fixes them all in one go. The bot extends `baseEnvSchema`
// with its DISCORD_* / GOOGLE_* keys (`baseEnvSchema.extend({...})`).
import { z } from 'zod';
import { gpuEnvSchema } from './gpu.js';

const DEVICE_PATTERN = /^(cpu(:\d+)?|cuda(:\d+)?|webgpu|noop:\d+)$/;

const intFromEnv = (fallback: number, min = 0) => z.coerce.number().int('must be a whole number').min(min, `must be at least ${min}`).default(fallback);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** 1/0, true/false, yes/no, on/off; empty = unset. */
const optionalBool = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
  z.stringbool({ error: 'must be 1 or 0 (true/false, yes/no, on/off)' }).optional(),
);

export const baseEnvSchema = z.object({
  // `none`: no local device (an Imagen-only bot; the provider policy then sends jobs to Imagen).
  DEVICES: z
    .string()
    .default('cpu')
    .refine((s) => s.trim() !== '', 'needs at least one device, or `none` for a bot without local devices')
    .transform((s) =>
      s.trim().toLowerCase() === 'none'
        ? []
        : s
            .split(',')
            .map((d) => d.trim().toLowerCase())
            .filter((d) => d.length > 0),
    )
    .refine((list) => list.every((d) => DEVICE_PATTERN.test(d)), 'each entry must be cpu, cpu:N, cuda, cuda:N, webgpu or noop:N (comma separated)')
    .refine((list) => new Set(list).size === list.length, 'lists a device twice'),
  NOOP_STEP_MS: intFromEnv(5),
  MODELS_DIR: z.string().default('./models'),
  DEFAULT_MODEL: optionalString,
  DATA_DIR: z.string().default('./data'),
  MAX_QUEUE: intFromEnv(100, 1),
  MAX_QUEUED_PER_USER: intFromEnv(5, 1),
  OUTPUT_RETENTION_DAYS: intFromEnv(30),
  METRICS_PORT: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
    .refine((v) => v === undefined || (Number.isInteger(v) && v >= 0 && v <= 65535), 'must be a port number (0–65535)'),
  /** Address /metrics and /healthz listen on: loopback unless widened (they have no authentication). */
  METRICS_HOST: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : typeof v === 'string' ? v.trim() : v),
    z
      .string()
      .regex(/^[\w.:-]+$/, 'must be an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0')
      .default('127.0.0.1'),
  ),
  /** Start with a new, empty database although DATA_DIR/outputs holds images of an earlier one. */
  ACCEPT_FRESH_DATABASE: optionalBool,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  STALL_TIMEOUT_MS: intFromEnv(120_000, 1),
  /** Rough memory budget per device for loaded pipelines (0 = cap by count only). */
  DEVICE_MEMORY_BUDGET_MB: intFromEnv(0),
  QUEUE_BACKEND: z.enum(['local', 'redis']).default('local'),
  REDIS_URL: optionalString.refine((v) => v === undefined || /^rediss?:\/\//.test(v), 'must be a redis:// or rediss:// URL'),
  /** BullMQ queue name and key prefix: bots and worker hosts must agree on both. */
  REDIS_QUEUE: z
    .string()
    .regex(/^[\w.-]+$/, 'letters, digits, _ . - only')
    .default('imagine'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[\w.-]+$/, 'letters, digits, _ . - only')
    .default('bull'),
  /** Names this worker host's devices in Redis (`<name>/cuda:0`); the host name by default. */
  WORKER_NAME: optionalString,
  /** `npm run worker` on SIGTERM: how long running jobs may finish before they are requeued. */
  WORKER_SHUTDOWN_GRACE_MS: intFromEnv(30_000),
  /** `npm run worker`: how long an idle device waits, per model it has loaded, before it takes jobs for other models (0: no affinity). */
  AFFINITY_GRACE_MS: intFromEnv(2000),
  /** `npm run worker`: a job waiting this long goes to the next device that frees up, loaded model or not. */
  AFFINITY_MAX_WAIT_MS: intFromEnv(30_000, 100),
  /** Which bot process owns the jobs it submits (Redis backend, one per Discord shard process). */
  QUEUE_OWNER: optionalString,
  /** Engine memory savers (README "Memory options"); LOW_MEMORY turns on the ones left unset. */
  LOW_MEMORY: optionalBool,
  RELEASE_SESSIONS: optionalBool,
  VAE_SLICING: optionalBool,
  VAE_TILING: optionalBool,
  VAE_TILE_SIZE: intFromEnv(512, 64).refine((v) => v % 8 === 0, 'must be a multiple of 8'),
  /** SD3 models: 0 = leave text_encoder_3 (T5-XXL) unloaded and feed zeros in its place. Not part of LOW_MEMORY (it changes the pictures). */
  SD3_T5: optionalBool,
  /** Folder under MODELS_DIR/upscalers, or `lanczos`; the only one installed when unset. */
  UPSCALER: optionalString,
  UPSCALER_TILE_SIZE: intFromEnv(256, 16).refine((v) => v % 8 === 0, 'must be a multiple of 8'),
  UPSCALER_TILE_OVERLAP: intFromEnv(16),
  /** Execution-provider settings for cuda and webgpu devices (config/gpu.ts). */
  ...gpuEnvSchema.shape,
});

export type AppConfig = z.infer<typeof baseEnvSchema>;

/** Parses env with `schema` (base by default); throws one Error naming every bad key. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
}

export function loadEnv(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const config = parseEnv(baseEnvSchema, env);
  if (config.QUEUE_BACKEND === 'redis' && !config.REDIS_URL) {
    throw new Error('Invalid configuration:\n  REDIS_URL: required when QUEUE_BACKEND=redis');
  }
  return config;
}

// The HTTP API's environment keys (src/api): where it listens, whether it asks for keys, and the
// per-key request rate. Validated with zod like the rest, one sentence per bad key.
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseEnv } from './env.js';

const blankIsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : typeof v === 'string' ? v.trim() : v);

export const apiEnvSchema = z.object({
  /** Unset: `npm start` serves no API; `npm run api` uses 7860 (AUTOMATIC1111's port). */
  API_PORT: z.preprocess(blankIsUnset, z.coerce.number().int('must be a whole number').min(0).max(65535, 'must be a port number (0–65535)').optional()),
  API_HOST: z.preprocess(
    blankIsUnset,
    z
      .string()
      .regex(/^[\w.:-]+$/, 'must be an IP address or host name, e.g. 127.0.0.1 or 0.0.0.0')
      .default('127.0.0.1'),
  ),
  /** `off`: no key needed (loopback only). */
  API_AUTH: z.preprocess(blankIsUnset, z.enum(['on', 'off'], { error: 'must be on or off' }).default('on')),
  /** Requests per minute per key (0 = no limit). */
  API_RATE_LIMIT_PER_MIN: z.preprocess(blankIsUnset, z.coerce.number().int().min(0).max(1_000_000).default(120)),
  /** How long a synchronous call (/generate, /sdapi, /v1/images) waits for its job before answering 504 (the job stays fetchable). */
  API_SYNC_TIMEOUT_S: z.preprocess(blankIsUnset, z.coerce.number().int().min(1).max(86_400).default(600)),
  /** Public base URL for `url` responses (OpenAI); the request's own host when unset. */
  API_PUBLIC_URL: z.preprocess(blankIsUnset, z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional()),
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

export interface ApiConfig {
  host: string;
  port: number;
  auth: boolean;
  ratePerMinute: number;
  syncTimeoutMs: number;
  publicUrl?: string;
}

/** Thrown when the API must not start as configured (the message names the fix). */
export class ApiConfigError extends Error {
  override readonly name = 'ApiConfigError';
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * The API's settings, or undefined when it is off (no API_PORT and no `defaultPort`). Refuses
 * API_AUTH=off on anything but loopback: keyless access is for one machine only.
 */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env, defaultPort?: number): ApiConfig | undefined {
  const e = parseEnv(apiEnvSchema, env);
  const port = e.API_PORT ?? defaultPort;
  if (port === undefined) return undefined;
  const auth = e.API_AUTH === 'on';
  if (!auth && !isLoopbackHost(e.API_HOST)) {
    throw new ApiConfigError(
      `API_AUTH=off is only allowed when the API listens on loopback (API_HOST=127.0.0.1), not on ${e.API_HOST}: create keys with \`npm run keys -- create NAME\` instead.`,
    );
  }
  return {
    host: e.API_HOST,
    port,
    auth,
    ratePerMinute: e.API_RATE_LIMIT_PER_MIN,
    syncTimeoutMs: e.API_SYNC_TIMEOUT_S * 1000,
    ...(e.API_PUBLIC_URL ? { publicUrl: e.API_PUBLIC_URL.replace(/\/+$/, '') } : {}),
  };
}

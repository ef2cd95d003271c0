import { createHash } from 'node:crypto';

/**
 * Per-route rate-limit buckets with Discord's headers, real 429s when a bucket is exhausted,
 * and injected one-off 429s so a client's retry logic runs. Uses real time (not the stand-in
 * clock): discord.js schedules its retries with its own Date.now().
 */

/** "PATCH /webhooks/*", "/channels/:id/messages", a RegExp on "METHOD /path", or a predicate. */
export type RouteMatcher = string | RegExp | ((request: { method: string; path: string }) => boolean);

export interface RateLimitRequest {
  method: string;
  /** Path after /api/v10, without query. */
  path: string;
  /** Route template, e.g. /channels/:channelId/messages. */
  template: string;
  /** Values of the major parameters (channel, guild, webhook, interaction). */
  major: string;
}

export interface RateLimitDecision {
  headers: Record<string, string>;
  /** Set when the request must be answered with 429 instead of being handled. */
  limited?: { injected: boolean; retryAfterMs: number; global: boolean };
}

interface Injection {
  matcher: (method: string, path: string) => boolean;
  retryAfterMs: number;
  global: boolean;
}

export interface RateLimiterOptions {
  limit: number;
  windowMs: number;
  retryAfterMs: number;
  probability: number;
  random: () => number;
}

export function compileRouteMatcher(match: RouteMatcher | undefined): (method: string, path: string) => boolean {
  if (match === undefined) return () => true;
  if (typeof match === 'function') return (method, path) => match({ method, path });
  if (match instanceof RegExp) return (method, path) => match.test(`${method} ${path}`);
  const spec = /^([A-Z]+)\s+(.*)$/.exec(match.trim());
  const method = spec?.[1];
  const pattern = spec ? spec[2] : match.trim();
  const source = pattern
    .split(/(\*|:\w+)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const regex = new RegExp(`^${source}$`);
  return (m, path) => (method === undefined || method === m) && regex.test(path);
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

export class RateLimiter {
  private readonly buckets = new Map<string, { remaining: number; resetAt: number }>();
  private readonly injections: Injection[] = [];
  private readonly exempt = new Set<string>();

  constructor(private readonly options: RateLimiterOptions) {}

  injectNext(match?: RouteMatcher, opts: { retryAfterMs?: number; global?: boolean } = {}): void {
    this.injections.push({
      matcher: compileRouteMatcher(match),
      retryAfterMs: opts.retryAfterMs ?? this.options.retryAfterMs,
      global: opts.global ?? false,
    });
  }

  get pendingInjections(): number {
    return this.injections.length;
  }

  consume(request: RateLimitRequest): RateLimitDecision {
    const now = Date.now();
    const key = `${request.method} ${request.template} ${request.major}`;
    const hash = createHash('sha1').update(`${request.method} ${request.template}`).digest('hex').slice(0, 32);
    let bucket = this.buckets.get(key);
    if (!bucket || now >= bucket.resetAt) {
      bucket = { remaining: this.options.limit, resetAt: now + this.options.windowMs };
      this.buckets.set(key, bucket);
    }
    const headers = (remaining: number, resetAfterMs: number): Record<string, string> => ({
      'X-RateLimit-Limit': String(this.options.limit),
      'X-RateLimit-Remaining': String(remaining),
      'X-RateLimit-Reset': seconds(now + resetAfterMs),
      'X-RateLimit-Reset-After': seconds(resetAfterMs),
      'X-RateLimit-Bucket': hash,
    });
    const limitedHeaders = (retryAfterMs: number, global: boolean) => ({
      ...headers(0, retryAfterMs),
      'Retry-After': seconds(retryAfterMs),
      'X-RateLimit-Scope': global ? 'global' : 'user',
      ...(global ? { 'X-RateLimit-Global': 'true' } : {}),
    });

    const explicit = this.injections.findIndex((i) => i.matcher(request.method, request.path));
    const random = explicit === -1 && !this.exempt.has(key) && this.options.probability > 0 && this.options.random() < this.options.probability;
    this.exempt.delete(key);
    if (explicit !== -1 || random) {
      const injection = explicit !== -1 ? this.injections.splice(explicit, 1)[0] : undefined;
      const retryAfterMs = injection?.retryAfterMs ?? this.options.retryAfterMs;
      const global = injection?.global ?? false;
      // The retry of this request must get through, or "once" would become "sometimes forever".
      this.exempt.add(key);
      return { headers: limitedHeaders(retryAfterMs, global), limited: { injected: true, retryAfterMs, global } };
    }
    if (bucket.remaining <= 0) {
      const retryAfterMs = bucket.resetAt - now;
      return { headers: limitedHeaders(retryAfterMs, false), limited: { injected: false, retryAfterMs, global: false } };
    }
    bucket.remaining -= 1;
    return { headers: headers(bucket.remaining, bucket.resetAt - now) };
  }
}

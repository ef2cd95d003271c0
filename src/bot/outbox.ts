// The delivery outbox: a finished job's last message is owed (a row in SQLite) until Discord
// confirms it. Transient failures (network, 5xx, 429) are retried with exponential backoff,
// honouring a rate limit's retry_after, for `giveUpMs` (24 h by default); rows survive
// restarts and are resumed at start. Permanent refusals (4xx) go to `deliver`'s own fallback
// and, when even that is refused, the delivery is abandoned with an error log.
import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import type { Logger } from 'pino';
import type { Delivery, DeliveryDetail, DeliveryKind, DeliveryMode, DeliveryStore } from '../store/deliveries.js';

export interface RetryPolicy {
  /** First retry after this long; each further one waits twice as long… */
  baseMs: number;
  /** …up to this. */
  maxMs: number;
  /** Stop trying this long after the job finished. */
  giveUpMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 2000, maxMs: 5 * 60_000, giveUpMs: 24 * 3600_000 };

/** Nothing to retry: the job is gone, or the message can never be built. */
export class PermanentDeliveryError extends Error {
  override readonly name = 'PermanentDeliveryError';
}

/** Worth trying again later: Discord unreachable, overloaded or rate limiting. */
export function isTransient(err: unknown): boolean {
  if (err instanceof PermanentDeliveryError) return false;
  if (err instanceof RateLimitError) return true;
  if (err instanceof DiscordAPIError || err instanceof HTTPError) return err.status >= 500 || err.status === 429 || err.status === 408;
  // Network errors, timeouts (AbortError) and anything else that is not Discord's answer.
  return true;
}

/** How long Discord asked us to wait (429), if it did. */
export function retryAfterMs(err: unknown): number | undefined {
  if (err instanceof RateLimitError) return err.retryAfter;
  if (err instanceof DiscordAPIError && err.status === 429) {
    const after = (err.rawError as { retry_after?: unknown }).retry_after;
    if (typeof after === 'number' && after >= 0) return after * 1000;
  }
  return undefined;
}

/** The wait before attempt `attempts + 1`: doubling from baseMs, capped, ±20 % jitter; retry_after wins when longer. */
export function backoffMs(policy: RetryPolicy, attempts: number, err: unknown, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempts, 30));
  const jittered = exp * (0.8 + 0.4 * random());
  return Math.round(Math.max(jittered, retryAfterMs(err) ?? 0));
}

export type DeliverFn = (d: Delivery) => Promise<string>;

export interface OutboxDeps {
  store: DeliveryStore;
  /** Posts the message; resolves with the id of the message that shows it, throws when it could not. */
  deliver: DeliverFn;
  log: Logger;
  retry?: RetryPolicy;
  now?: () => number;
}

export class DeliveryOutbox {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly d: OutboxDeps) {
    this.retry = d.retry ?? DEFAULT_RETRY;
    this.now = d.now ?? Date.now;
  }

  /** Owes the job's last message and tries at once; a repeated event for the same job is ignored. */
  enqueue(jobId: string, kind: DeliveryKind, mode: DeliveryMode, detail: DeliveryDetail): void {
    if (this.stopped) return;
    try {
      if (!this.d.store.add({ jobId, kind, mode, detail, at: this.now() })) return;
    } catch (err) {
      // The database refused the row (disk full…): still try now, just not durably.
      this.d.log.error({ err, jobId }, 'cannot record the owed job message; delivering without the outbox');
      void this.d
        .deliver({ jobId, kind, mode, detail, state: 'pending', attempts: 0, createdAt: this.now(), nextAt: 0 })
        .catch((e: unknown) => this.d.log.error({ err: e, jobId }, 'could not deliver the job message'));
      return;
    }
    this.schedule(jobId, 0);
  }

  /** Picks up what earlier runs still owe (at start), and finished jobs that never got a row. */
  resume(): number {
    const adopted = this.d.store.adoptFinished(this.now() - this.retry.giveUpMs);
    if (adopted) this.d.log.warn({ adopted }, 'finished jobs had no delivery record; delivering them now');
    const pending = this.d.store.pending();
    for (const p of pending) this.schedule(p.jobId, Math.max(0, p.nextAt - this.now()));
    if (pending.length) this.d.log.info({ pending: pending.length }, 'resuming undelivered job messages');
    return pending.length;
  }

  /** Stops retrying (rows stay pending for the next start) and waits briefly for attempts in flight. */
  async stop(waitMs = 5000): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight.values()]),
      new Promise<void>((res) => {
        timer = setTimeout(res, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private schedule(jobId: string, delayMs: number): void {
    if (this.stopped || this.timers.has(jobId) || this.inflight.has(jobId)) return;
    const timer = setTimeout(() => {
      this.timers.delete(jobId);
      const run = this.attempt(jobId).then((retryIn) => {
        this.inflight.delete(jobId);
        if (retryIn !== undefined) this.schedule(jobId, retryIn);
      });
      this.inflight.set(jobId, run);
    }, delayMs);
    this.timers.set(jobId, timer);
  }

  /** One try; resolves with the wait before the next one, or undefined when done with it. */
  private async attempt(jobId: string): Promise<number | undefined> {
    const delivery = this.d.store.get(jobId);
    if (delivery?.state !== 'pending') return undefined;
    const log = this.d.log.child({ jobId, kind: delivery.kind, attempt: delivery.attempts + 1 });
    try {
      const messageId = await this.d.deliver(delivery);
      this.d.store.delivered(jobId, messageId, this.now());
      if (delivery.attempts > 0) log.info({ messageId }, 'job message delivered after retries');
    } catch (err) {
      const reason = String((err as Error)?.message ?? err);
      const age = this.now() - delivery.createdAt;
      if (!isTransient(err)) {
        log.error({ err }, 'Discord refused the job message and its fallback; giving up');
        this.d.store.abandon(jobId, reason);
        return undefined;
      }
      if (age >= this.retry.giveUpMs) {
        log.error({ err, ageMs: age }, 'Discord stayed unreachable for the whole retry window; giving up on the job message');
        this.d.store.abandon(jobId, reason);
        return undefined;
      }
      const wait = backoffMs(this.retry, delivery.attempts, err);
      this.d.store.retryAt(jobId, delivery.attempts + 1, this.now() + wait, reason);
      log.warn({ err: reason, retryInMs: Math.round(wait) }, 'could not deliver the job message; will retry');
      return wait;
    }
    return undefined;
  }
}

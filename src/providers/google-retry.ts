// Retries transient Google failures (Gemini and legacy Imagen) with exponential backoff and jitter inside one time budget,
// so a job never waits longer than the owner allowed, however often Google says 429 or 503.
import { GenerationAbortedError } from '../diffusion/errors.js';
import { formatDuration } from '../durations.js';
import { ProviderError } from './types.js';

export interface RetryPolicy {
  /** Limit for one attempt; attempts late in the budget get what is left of it. */
  timeoutMs: number;
  /** Everything (attempts and waits) ends within max(timeoutMs, maxRetryMs). */
  maxRetryMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  maxAttempts: number;
  /** Injected in tests. */
  random?: () => number;
  now?: () => number;
}

export interface Attempt {
  /** 1-based. */
  number: number;
  /** Time this attempt may take. */
  timeoutMs: number;
}

/** An attempt is only worth starting with at least this much time (or the whole timeout, if smaller). */
const MIN_ATTEMPT_MS = 2_000;

export function backoffDelay(policy: RetryPolicy, failedAttempt: number, retryAfterMs?: number): number {
  const exp = Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** (failedAttempt - 1));
  const jittered = exp * (0.5 + 0.5 * (policy.random ?? Math.random)()); // "equal jitter"
  return Math.max(Math.round(jittered), retryAfterMs ?? 0);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new GenerationAbortedError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new GenerationAbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function gaveUp(err: ProviderError, attempts: number, elapsedMs: number): ProviderError {
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  return new ProviderError({
    kind: err.kind,
    retryable: err.retryable,
    userMessage: err.userMessage,
    message: `${err.message} (gave up after ${tries} in ${(elapsedMs / 1000).toFixed(1)} s)`,
    ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    cause: err,
  });
}

/** Runs `attempt` until it succeeds, fails for good, or the budget would be exceeded. */
export async function withRetry<T>(policy: RetryPolicy, attempt: (a: Attempt) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const now = policy.now ?? Date.now;
  const start = now();
  const deadline = start + Math.max(policy.timeoutMs, policy.maxRetryMs);
  const minAttemptMs = Math.min(policy.timeoutMs, MIN_ATTEMPT_MS);
  for (let n = 1; ; n++) {
    const timeoutMs = n === 1 ? policy.timeoutMs : Math.min(policy.timeoutMs, deadline - now());
    try {
      return await attempt({ number: n, timeoutMs });
    } catch (err) {
      if (!(err instanceof ProviderError) || !err.retryable) throw err;
      if (n >= policy.maxAttempts) throw gaveUp(err, n, now() - start);
      const delay = backoffDelay(policy, n, err.retryAfterMs);
      if (now() + delay + minAttemptMs > deadline) throw gaveUp(err, n, now() - start);
      await sleep(delay, signal);
    }
  }
}

/**
 * One attempt of a Google call: aborted by `signal` (the job's), cut off after `timeoutMs` (a
 * retryable timeout naming `service` and the per-try limit), other failures through `classify`.
 */
export async function attemptWithTimeout<T>(
  o: { service: string; timeoutMs: number; perTryMs: number; signal: AbortSignal; classify: (err: unknown) => Error },
  call: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (o.signal.aborted) throw new GenerationAbortedError();
  const attempt = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    attempt.abort();
  }, o.timeoutMs);
  const onAbort = () => attempt.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(attempt.signal);
  } catch (err) {
    if (o.signal.aborted) throw new GenerationAbortedError();
    if (timedOut) {
      throw new ProviderError({
        kind: 'timeout',
        retryable: true,
        userMessage: `${o.service} did not answer in time (${formatDuration(o.perTryMs)} per try).`,
        message: `${o.service} request timed out after ${o.timeoutMs} ms`,
        cause: err,
      });
    }
    throw o.classify(err);
  } finally {
    clearTimeout(timer);
    o.signal.removeEventListener('abort', onAbort);
  }
}

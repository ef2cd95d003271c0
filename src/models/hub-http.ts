// HTTP plumbing shared by the listing and the downloads: URLs in the hub's scheme, the auth
// header, hub status codes turned into HubErrors with advice, and a bounded retry with backoff.
import { setTimeout as sleep } from 'node:timers/promises';
import { HubError } from './hub-errors.js';

export interface HubClient {
  endpoint: string;
  token?: string;
  fetchImpl: typeof fetch;
  /** Total tries per request (first one included). */
  attempts: number;
  /** Backoff before retry n is baseDelayMs · 2^(n-1), capped at 30 s. */
  baseDelayMs: number;
}

/** What a request was for, so an error can name it. */
export interface RequestSubject {
  repo: string;
  revision: string;
  file?: string;
}

export function listingUrl(client: HubClient, repo: string, revision: string): string {
  return `${client.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
}

export function resolveUrl(client: HubClient, repo: string, revision: string, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${client.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
}

export function authHeaders(client: HubClient): Record<string, string> {
  return client.token ? { authorization: `Bearer ${client.token}` } : {};
}

/** Maps a non-2xx hub response to an error that says what to do about it. */
export function errorForStatus(res: Response, subject: RequestSubject, client: HubClient): HubError {
  const code = res.headers.get('x-error-code') ?? '';
  const serverMessage = res.headers.get('x-error-message') ?? '';
  const page = `${client.endpoint}/${subject.repo}`;
  const what = subject.file ? `${subject.file} from ${subject.repo}` : subject.repo;
  const http = `HTTP ${res.status}`;
  const tokenAdvice = client.token
    ? `HF_TOKEN was sent but gives no access: check the token at ${client.endpoint}/settings/tokens and accept the model's licence on ${page} with the same account.`
    : `For a private or gated repo, set HF_TOKEN to a read token (${client.endpoint}/settings/tokens) and accept the model's licence on ${page}.`;

  if (code === 'GatedRepo') {
    return new HubError('unauthorized', `${subject.repo} is gated (${http}). ${tokenAdvice}`);
  }
  if (code === 'RevisionNotFound') {
    return new HubError('not-found', `Revision "${subject.revision}" not found in ${subject.repo} (${http}). Check the branch, tag or commit name on ${page}.`);
  }
  if (code === 'EntryNotFound' || (res.status === 404 && subject.file && code !== 'RepoNotFound')) {
    return new HubError('not-found', `${subject.file ?? 'A file'} not found in ${subject.repo} at revision "${subject.revision}" (${http}).`);
  }
  if (res.status === 401 && serverMessage.startsWith('Invalid credentials')) {
    return new HubError('unauthorized', `The hub rejected HF_TOKEN (${http}: ${serverMessage}). Create a read token at ${client.endpoint}/settings/tokens.`);
  }
  // Unauthenticated, the hub answers 401 RepoNotFound alike for missing, private and gated repos.
  if (res.status === 401 || res.status === 403) {
    const reason = code === 'RepoNotFound' ? 'was not found, or it is private or gated' : res.status === 401 ? 'needs authentication' : 'is forbidden';
    return new HubError('unauthorized', `${what} ${reason} (${http}). Check the repo id (owner/name). ${tokenAdvice}`);
  }
  if (res.status === 404) {
    return new HubError('not-found', `Repo ${subject.repo} not found on ${client.endpoint} (${http}). Check the repo id (owner/name) on ${page}.`);
  }
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  return new HubError('http', `The hub answered ${http}${res.statusText ? ` ${res.statusText}` : ''} for ${what}.`, retryable);
}

/** Errors thrown by fetch itself (DNS, refused, reset, aborted) become retryable network errors. */
export function networkError(err: unknown, what: string): HubError {
  if (err instanceof HubError) return err;
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new HubError('network', `Network error while fetching ${what}: ${detail}`, true, { cause: err });
}

export function backoffMs(client: HubClient, retry: number): number {
  return Math.min(30_000, client.baseDelayMs * 2 ** (retry - 1));
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retryable error, or fails `client.attempts`
 * times in a row. When `madeProgress` says a failed try still moved the download forward, the count
 * starts over, so a long download over a flaky line finishes. `onRetry` hears about each wait.
 */
export async function withRetry<T>(
  client: HubClient,
  attempt: () => Promise<T>,
  onRetry?: (info: { attempt: number; delayMs: number; error: HubError }) => void,
  madeProgress?: () => Promise<boolean>,
): Promise<T> {
  let failures = 0;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      // Anything that is not a HubError (a full disk, a permission problem) is not worth retrying.
      if (!(err instanceof HubError) || !err.retryable) throw err;
      failures = (await madeProgress?.()) ? 1 : failures + 1;
      if (failures >= client.attempts) throw err;
      const delayMs = backoffMs(client, failures);
      onRetry?.({ attempt: failures + 1, delayMs, error: err });
      await sleep(delayMs);
    }
  }
}

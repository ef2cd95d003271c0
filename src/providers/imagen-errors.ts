// Sorts whatever the SDK threw into a ProviderError. The SDK's ApiError carries the HTTP status
// and Google's JSON error body ({error: {code, message, status, details}}) as its message.
import { ApiError } from '@google/genai';
import { z } from 'zod';
import { ProviderError } from './types.js';

const googleErrorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.unknown()).optional(),
  }),
});

const errorInfoSchema = z.object({ reason: z.string() });
const retryInfoSchema = z.object({ retryDelay: z.string().regex(/^\d+(\.\d+)?s$/) });

export interface GoogleErrorInfo {
  httpStatus: number;
  /** Canonical code, e.g. RESOURCE_EXHAUSTED, INVALID_ARGUMENT. */
  status?: string;
  message: string;
  /** ErrorInfo reasons, e.g. API_KEY_INVALID. */
  reasons: string[];
  /** RetryInfo's retryDelay, when Google said how long to wait. */
  retryDelayMs?: number;
}

export function parseApiError(err: ApiError): GoogleErrorInfo {
  const info: GoogleErrorInfo = { httpStatus: err.status, message: err.message, reasons: [] };
  let body: unknown;
  try {
    body = JSON.parse(err.message);
  } catch {
    return info;
  }
  const parsed = googleErrorSchema.safeParse(body);
  if (!parsed.success) return info;
  const e = parsed.data.error;
  if (e.message) info.message = e.message;
  if (e.status) info.status = e.status;
  for (const detail of e.details ?? []) {
    const reason = errorInfoSchema.safeParse(detail);
    if (reason.success) info.reasons.push(reason.data.reason);
    const retry = retryInfoSchema.safeParse(detail);
    if (retry.success) info.retryDelayMs = Math.round(parseFloat(retry.data.retryDelay) * 1000);
  }
  return info;
}

// How Google words a 400 for a prompt its filters refused ("…sensitive words that violate Google's Responsible AI practices…").
const SAFETY_WORDING = /responsible ai|sensitive words|safety/i;

function fromApiError(err: ApiError, model: string, service: string): ProviderError {
  const g = parseApiError(err);
  const detail = `${service} ${g.httpStatus}${g.status ? ` ${g.status}` : ''}: ${g.message}`;
  const base = { message: detail, cause: err };

  if (g.reasons.includes('API_KEY_INVALID') || /api key not valid/i.test(g.message) || g.httpStatus === 401) {
    return new ProviderError({
      ...base,
      kind: 'auth',
      retryable: false,
      userMessage: 'Google rejected the API key (GOOGLE_API_KEY is invalid or expired). The bot owner needs to replace it.',
    });
  }
  if (g.httpStatus === 403) {
    return new ProviderError({
      ...base,
      kind: 'auth',
      retryable: false,
      userMessage: `The Google API key may not use ${service} (${g.message}). The bot owner needs to enable it for this key.`,
    });
  }
  if (g.httpStatus === 429) {
    const init = {
      ...base,
      kind: 'quota' as const,
      retryable: true,
      userMessage: `The ${service} quota is used up for now. Try again later.`,
    };
    return new ProviderError(g.retryDelayMs === undefined ? init : { ...init, retryAfterMs: g.retryDelayMs });
  }
  if (g.httpStatus === 404) {
    return new ProviderError({
      ...base,
      kind: 'config',
      retryable: false,
      userMessage: `Google does not offer the model ${model} to this key. The bot owner can pick another one with GOOGLE_IMAGE_MODEL.`,
    });
  }
  if (g.httpStatus === 400 && SAFETY_WORDING.test(g.message)) {
    return new ProviderError({
      ...base,
      kind: 'filtered',
      retryable: false,
      userMessage: `Google's filters blocked this prompt: ${g.message}`,
    });
  }
  if (g.httpStatus === 408 || g.httpStatus === 504) {
    return new ProviderError({ ...base, kind: 'timeout', retryable: true, userMessage: `${service} took too long to answer.` });
  }
  if (g.httpStatus >= 500) {
    return new ProviderError({
      ...base,
      kind: 'server',
      retryable: true,
      userMessage: `${service} had a server error (${g.httpStatus}). Try again in a while.`,
    });
  }
  return new ProviderError({
    ...base,
    kind: 'config',
    retryable: false,
    userMessage: `Google refused the request: ${g.message}`,
  });
}

/** Node's fetch reports network failures as TypeError('fetch failed') with the socket error as cause. */
function isNetworkError(err: Error): boolean {
  return err instanceof TypeError && /fetch failed|network/i.test(err.message);
}

/** `service` names the API in messages ("Imagen", "Gemini"). */
export function classifyGoogleError(err: unknown, model: string, service: string): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof ApiError) return fromApiError(err, model, service);
  const e = err instanceof Error ? err : new Error(String(err));
  if (isNetworkError(e)) {
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return new ProviderError({
      kind: 'server',
      retryable: true,
      userMessage: `Couldn't reach Google's ${service} service. Try again in a while.`,
      message: `${service} request failed${cause}`,
      cause: e,
    });
  }
  if (/only supported by the Gemini Enterprise|not supported in Gemini API/i.test(e.message)) {
    return new ProviderError({
      kind: 'config',
      retryable: false,
      userMessage: `This ${service} option is not available with the installed Google SDK.`,
      message: e.message,
      cause: e,
    });
  }
  // JSON that doesn't parse (SyntaxError) or has the wrong shape, as the SDK's converters meet it.
  return new ProviderError({
    kind: 'malformed',
    retryable: false,
    userMessage: `${service} sent back a reply the bot could not read.`,
    message: `Malformed ${service} response: ${e.message}`,
    cause: e,
  });
}

export function classifyImagenError(err: unknown, model: string): ProviderError {
  return classifyGoogleError(err, model, 'Imagen');
}

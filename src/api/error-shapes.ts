// Each door answers errors the way its clients parse them: OpenAI's SDK reads
// {error: {message, type, code, param}}; A1111 clients (FastAPI) read {detail}, a list of
// {loc, msg, type} for a 422; the seed's own endpoints use the OpenAI shape too.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { ApiError } from './errors.js';

type Door = 'openai' | 'a1111' | 'seed';

export function doorOf(url: string): Door {
  if (url.startsWith('/v1/')) return 'openai';
  if (url.startsWith('/sdapi/')) return 'a1111';
  return 'seed';
}

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  413: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_exceeded',
};

function field(path: string): string {
  return path.replace(/^\//, '').replace(/\//g, '.') || 'body';
}

export function sendError(req: FastifyRequest, reply: FastifyReply, err: ApiError | FastifyError, log: Logger): FastifyReply {
  const door = doorOf(req.url);
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => ({ field: field(v.instancePath), message: v.message ?? 'is invalid' }));
    const message = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
    log.info({ url: req.url, key: req.principal?.name, issues }, 'api request refused: invalid body');
    if (door === 'a1111') {
      return reply.code(422).send({ detail: issues.map((i) => ({ loc: ['body', ...i.field.split('.')], msg: i.message, type: 'value_error' })) });
    }
    return reply
      .code(door === 'openai' ? 400 : 422)
      .send({ error: { message, type: 'invalid_request_error', code: 'invalid_value', param: issues[0]?.field ?? null } });
  }
  const apiError =
    err instanceof ApiError
      ? err
      : new ApiError(
          err.statusCode && err.statusCode < 500 ? err.statusCode : 500,
          err.statusCode === 413
            ? 'The request body is too large (images: at most 20 MiB each).'
            : err.statusCode && err.statusCode < 500
              ? err.message
              : 'Internal error.',
          { code: err.code },
        );
  if (apiError.status >= 500 && !(err instanceof ApiError)) log.error({ err, url: req.url }, 'api request failed');
  else log.info({ url: req.url, key: req.principal?.name, status: apiError.status, error: apiError.message }, 'api request refused');
  const d = apiError.detail;
  if (d.retryAfterS !== undefined) reply.header('retry-after', String(d.retryAfterS));
  reply.code(apiError.status);
  if (door === 'a1111') return reply.send({ detail: apiError.message, error: d.code ?? 'error', ...(d.models ? { models: d.models } : {}) });
  return reply.send({
    error: {
      message: apiError.message,
      type: OPENAI_TYPES[apiError.status] ?? (apiError.status >= 500 ? 'server_error' : 'invalid_request_error'),
      code: d.code ?? null,
      param: d.param ?? null,
      ...(d.models ? { models: d.models } : {}),
    },
  });
}

// What every door's routes get.
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiConfig } from '../config/api.js';
import type { JobRecord } from '../jobs/types.js';
import { ApiError } from './errors.js';
import type { JobsService, Principal } from './jobs-service.js';
import type { JobWatch } from './job-watch.js';

export type ApiApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

export interface ApiContext {
  config: ApiConfig;
  jobs: JobsService;
  watch: JobWatch;
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError(401, 'An API key is required.', { code: 'missing_api_key' });
  return req.principal;
}

/** The server's own base URL as the client reached it (API_PUBLIC_URL when set, e.g. behind a proxy). */
export function baseUrlOf(req: FastifyRequest, config: ApiConfig): string {
  return config.publicUrl ?? `${req.protocol}://${req.host}`;
}

/** `GET /files/{job}/{n}.png` of each output (the job id is a random UUID: the link is the permission, as OpenAI's signed URLs). */
export function fileUrls(req: FastifyRequest, config: ApiConfig, job: JobRecord): string[] {
  const base = baseUrlOf(req, config);
  return job.outputs.map((_, i) => `${base}/files/${job.id}/${i}.png`);
}

export type Reply = FastifyReply;

// The HTTP API server (fastify, zod schemas, generated OpenAPI at /openapi.json, docs at /docs):
// every door over the same queue, admission and providers as the Discord bot. Keys
// authenticate each request (src/api/auth.ts) and are rate-limited one by one.
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AddressInfo } from 'node:net';
import type { ApiConfig } from '../config/api.js';
import type { ObservableQueue } from '../metrics/server.js';
import { ApiJobsStore } from '../store/api-jobs.js';
import type { ApiKeyStore } from '../store/api-keys.js';
import type { Db } from '../store/db.js';
import { authenticate } from './auth.js';
import type { ApiApp, ApiContext } from './context.js';
import { sendError } from './error-shapes.js';
import { ApiError } from './errors.js';
import { registerFileRoutes } from './files.js';
import { JobsService, type JobsServiceDeps } from './jobs-service.js';
import { JobWatch } from './job-watch.js';
import { MAX_INPUT_IMAGE_BYTES } from './images.js';
import { registerOpenAiRoutes } from './openai.js';
import { registerSdapiRoutes } from './sdapi.js';
import { registerSeedRoutes } from './seed.js';
import { registerStatusRoutes } from './status.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without a key (the status page's HTML, output files, health, docs). */
    public?: boolean;
  }
}

export interface ApiServerDeps extends Omit<JobsServiceDeps, 'watch'> {
  config: ApiConfig;
  keys: ApiKeyStore;
  db: Db;
  /** /healthz and /metrics on this port too (when METRICS_PORT does not serve them apart). */
  metrics?: ObservableQueue;
}

export interface ApiServer {
  app: ApiApp;
  port: number;
  close(): Promise<void>;
}

/** A JSON body holds base64 images: one of 20 MiB is about 27 MiB, plus the rest of the request. */
const BODY_LIMIT = Math.ceil((MAX_INPUT_IMAGE_BYTES * 4) / 3) + 1024 * 1024;
const PUBLIC_PREFIXES = ['/docs', '/openapi.json'];

export async function buildApiServer(deps: ApiServerDeps): Promise<ApiApp> {
  const { config, log } = deps;
  const app = Fastify({
    loggerInstance: log.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // Refusals and failures are logged by sendError; one line per request would drown the job logs.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const watch = new JobWatch(deps.queue);
  const jobs = new JobsService({ ...deps, watch });
  const ctx: ApiContext = { config, jobs, watch };

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => sendError(req, reply, err, log));
  app.setNotFoundHandler((req, reply) =>
    sendError(req, reply, new ApiError(404, `No route ${req.method} ${req.url.split('?')[0]}.`, { code: 'not_found' }), log),
  );

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'imagine-bot HTTP API', version: '1' },
      components: { securitySchemes: { key: { type: 'http', scheme: 'bearer' } } },
      security: [{ key: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  await app.register(fastifyMultipart);
  // A1111's FastAPI reads JSON whatever the Content-Type says, and some clients send none
  // (aiyabot posts `data=json.dumps(payload)` through requests): read those bodies as JSON too.
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    if (!req.url.startsWith('/sdapi/'))
      return done(new ApiError(415, `Unsupported Content-Type ${req.headers['content-type'] ?? '(none)'}: send application/json.`));
    try {
      done(null, body === '' ? {} : JSON.parse(String(body)));
    } catch {
      done(new ApiError(422, 'The body is not JSON.', { param: 'body' }));
    }
  });

  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0];
    if (req.routeOptions.config?.public || PUBLIC_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`))) return;
    req.principal = authenticate(req, deps.keys, config.auth);
  });
  await app.register(fastifyRateLimit, {
    hook: 'preHandler',
    timeWindow: 60_000,
    max: (req) => {
      const perKey = req.principal?.limits.ratePerMinute ?? config.ratePerMinute;
      return perKey > 0 ? perKey : Number.MAX_SAFE_INTEGER;
    },
    keyGenerator: (req) => (req.principal ? `key:${req.principal.name}` : `ip:${req.ip}`),
    allowList: (req) => req.routeOptions.config?.public === true,
    errorResponseBuilder: (_req, c) =>
      new ApiError(429, `Rate limit: ${c.max} requests per minute for this key; retry in ${Math.ceil(c.ttl / 1000)} s.`, {
        code: 'rate_limit_exceeded',
        retryAfterS: Math.ceil(c.ttl / 1000),
      }),
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/healthz', { schema: { hide: true }, config: { public: true } }, async (_req, reply) => {
      const h = metrics.health();
      return reply.code(h.ok ? 200 : 503).send(h);
    });
    app.get('/metrics', { schema: { hide: true }, config: { public: true } }, async (_req, reply) =>
      reply.type(metrics.metricsRegistry.contentType).send(await metrics.metricsRegistry.metrics()),
    );
  }
  registerSeedRoutes(app, ctx);
  registerSdapiRoutes(app, ctx);
  registerOpenAiRoutes(app, ctx);
  registerFileRoutes(app, ctx);
  registerStatusRoutes(app, ctx, new ApiJobsStore(deps.db));
  app.addHook('onClose', async () => watch.close());
  return app;
}

export async function startApiServer(deps: ApiServerDeps): Promise<ApiServer> {
  const app = await buildApiServer(deps);
  await app.listen({ host: deps.config.host, port: deps.config.port });
  const port = (app.server.address() as AddressInfo).port;
  deps.log.info({ host: deps.config.host, port, auth: deps.config.auth ? 'keys' : 'off (loopback only)' }, 'HTTP API listening');
  return { app, port, close: () => app.close() };
}

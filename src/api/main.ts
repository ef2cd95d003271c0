// `npm run api`: the HTTP API alone, with no Discord token: the local queue and devices (or the
// Redis producer), the same settings, quotas and provider policy as the bot. API_HOST defaults
// to 127.0.0.1, API_PORT to 7860 (AUTOMATIC1111's).
import '../config/load-env.js';
import { logger } from '../log.js';
import { loadServiceConfig } from '../config/discord.js';
import { createCloudProvider } from '../providers/cloud.js';
import { createJobQueue, installShutdown, JobBook, RedisJobQueue } from '../queue/index.js';
import { ProviderQueue } from '../queue/provider-queue.js';
import { openSettingsService } from '../settings/service.js';
import { lostDatabaseProblem } from '../store/db.js';
import { exitWithError, StartupError } from '../process-exit.js';
import type { MetricsServer } from '../metrics/server.js';
import { ProviderRouter } from '../bot/provider-routing.js';
import { apiConfigOrExit, metricsBesideApi, serveApi } from './serve.js';
import type { ApiServer } from './server.js';

export const DEFAULT_API_PORT = 7860;

async function main(): Promise<void> {
  const service = loadServiceConfig();
  const api = apiConfigOrExit(DEFAULT_API_PORT)!;
  const lost = service.app.ACCEPT_FRESH_DATABASE ? undefined : lostDatabaseProblem(service.dataDir);
  if (lost) throw new StartupError(lost);
  for (const warning of service.google.warnings) logger.warn(warning);
  const cloud = createCloudProvider(service.google.config, { concurrency: service.providerRouting.concurrency });
  const book = new JobBook(service.dataDir, { noopStepMs: service.app.NOOP_STEP_MS });
  const backend = createJobQueue(service.app, { book });
  const queue = new ProviderQueue(backend, {
    dataDir: service.dataDir,
    book,
    cloud,
    concurrency: service.providerRouting.concurrency,
    caps: service.app,
    ...(backend instanceof RedisJobQueue ? { owner: backend.owner } : {}),
  });
  const providerDefault = { provider: service.providerRouting.policy, imagenDailyCap: null };
  const settings = openSettingsService(service, { db: book.db, providerDefault });
  const providers = new ProviderRouter({ queue, policies: settings.policy, config: service.providerRouting, log: logger });
  let server: ApiServer | undefined;
  let metrics: MetricsServer | undefined;
  installShutdown(
    {
      close: async () => {
        await queue.close();
        book.close();
      },
    },
    async () => {
      await server?.close();
      await metrics?.close();
    },
  );
  await queue.whenReady();
  const beside = await metricsBesideApi(service, api, queue);
  metrics = beside.metrics;
  server = await serveApi({ service, api, queue, db: book.db, settings, providers, log: logger, withMetrics: beside.withMetrics });
}

process.umask(0o077);
main().catch((err: unknown) => exitWithError(err, 'imagine-api'));

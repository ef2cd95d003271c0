// Starts the HTTP API over a running queue: `npm run api` (src/api/main.ts) and `npm start` with
// API_PORT set (src/main.ts) both come through here, so both serve the same doors over the same
// queue, settings and provider routing.
import type { Logger } from 'pino';
import { ApiConfigError, loadApiConfig, type ApiConfig } from '../config/api.js';
import { StartupError } from '../process-exit.js';
import type { ServiceConfig } from '../config/discord.js';
import { startMetricsServer, type MetricsServer, type ObservableQueue } from '../metrics/server.js';
import type { SettingsService } from '../settings/service.js';
import { ApiKeyStore } from '../store/api-keys.js';
import type { Db } from '../store/db.js';
import { ModelCatalog } from '../bot/model-catalog.js';
import type { ProviderRouter } from '../bot/provider-routing.js';
import type { ApiQueue } from './jobs-service.js';
import { startApiServer, type ApiServer } from './server.js';

export interface ServeApiDeps {
  service: ServiceConfig;
  api: ApiConfig;
  queue: ApiQueue & ObservableQueue;
  db: Db;
  settings: SettingsService;
  providers?: ProviderRouter;
  catalog?: ModelCatalog;
  log: Logger;
  /** Serve /healthz and /metrics on the API port (true unless METRICS_PORT serves them elsewhere). */
  withMetrics: boolean;
}

export async function serveApi(d: ServeApiDeps): Promise<ApiServer> {
  try {
    return await startApi(d);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StartupError(`API_PORT ${d.api.port} on ${d.api.host} is in use: stop what listens there or pick another API_PORT.`);
    if (code === 'EADDRNOTAVAIL') throw new StartupError(`API_HOST ${d.api.host} is not an address of this machine.`);
    throw err;
  }
}

function startApi(d: ServeApiDeps): Promise<ApiServer> {
  return startApiServer({
    config: d.api,
    queue: d.queue,
    settings: d.settings,
    ...(d.providers ? { providers: d.providers } : {}),
    catalog: d.catalog ?? new ModelCatalog(d.service.modelsDir, d.service.defaultModel, d.service.imagenConfigured),
    ceilings: d.service.ceilings,
    keys: new ApiKeyStore(d.db),
    db: d.db,
    log: d.log,
    ...(d.withMetrics ? { metrics: d.queue } : {}),
  });
}

/** METRICS_PORT apart from the API's port gets its own server; unset or equal, the API serves both. */
export async function metricsBesideApi(
  service: ServiceConfig,
  api: ApiConfig,
  queue: ObservableQueue,
): Promise<{ withMetrics: boolean; metrics?: MetricsServer }> {
  const port = service.app.METRICS_PORT;
  if (port === undefined || port === api.port) return { withMetrics: true };
  return { withMetrics: false, metrics: await startMetricsServer(port, queue, service.app.METRICS_HOST) };
}

/** The API's settings; a refusal (API_AUTH=off beyond loopback) is a startup error in one sentence. */
export function apiConfigOrExit(defaultPort?: number): ApiConfig | undefined {
  try {
    return loadApiConfig(process.env, defaultPort);
  } catch (err) {
    if (err instanceof ApiConfigError) throw new StartupError(err.message);
    throw err;
  }
}

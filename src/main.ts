// `npm start`: the Discord bot. Registers the slash commands when their definitions changed,
// starts the job queue (one worker process per device, or the Redis producer) and the metrics
// server when METRICS_PORT is set, then connects to Discord.
import './config/load-env.js';
import { logger } from './log.js';
import { loadDiscordConfig, type DiscordConfig } from './config/discord.js';
import { createJobQueue, installShutdown, RedisJobQueue } from './queue/index.js';
import { JobBook } from './queue/job-book.js';
import { ProviderQueue } from './queue/provider-queue.js';
import { openSettingsService } from './settings/service.js';
import { createCloudProvider, type CloudProvider } from './providers/cloud.js';
import { startMetricsServer, type MetricsServer } from './metrics/server.js';
import { BotApp } from './bot/app.js';
import { createRest, describeDiscordError } from './bot/client.js';
import { exitWithError, StartupError } from './process-exit.js';
import { lostDatabaseProblem } from './store/db.js';
import { commandPayloads, loadCommands, registerIfChanged } from './bot/registry.js';
import { metricsPortOf, shardOfThisProcess } from './sharding.js';
import { apiConfigOrExit, serveApi } from './api/serve.js';
import type { ApiServer } from './api/server.js';

async function main(): Promise<void> {
  const config = loadDiscordConfig();
  // The HTTP API beside the bot when API_PORT is set (src/api); checked before anything starts.
  const apiConfig = apiConfigOrExit();
  // Before anything opens DATA_DIR/bot.sqlite (which would create an empty one).
  const lost = config.app.ACCEPT_FRESH_DATABASE ? undefined : lostDatabaseProblem(config.dataDir);
  if (lost) throw new StartupError(lost);
  const commands = await loadCommands();
  const target = { applicationId: config.applicationId, guildId: config.devGuildId };
  // Under `npm run start:sharded` (src/shard-manager.ts): shard 0, which starts first, checks the
  // commands; a shard whose manager is gone shuts down rather than run on unsupervised.
  const shard = shardOfThisProcess();
  if (process.send && shard) process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  if (!shard || shard.id === 0) {
    try {
      const registered = await registerIfChanged(createRest(config), commandPayloads(commands), target, config.dataDir);
      logger.info({ registered, scope: config.devGuildId ? `guild ${config.devGuildId}` : 'global' }, 'slash commands checked');
    } catch (err) {
      throw new StartupError(describeDiscordError(err, config.apiUrl), { cause: err });
    }
  }

  const cloud = cloudFromConfig(config);
  // One connection to DATA_DIR/bot.sqlite and one set of job bookkeeping for the whole process.
  const book = new JobBook(config.dataDir, { noopStepMs: config.app.NOOP_STEP_MS });
  const backend = createJobQueue(config.app, { book });
  // Cloud jobs run here beside the backend's devices (see src/queue/provider-queue.ts).
  const queue = new ProviderQueue(backend, {
    dataDir: config.dataDir,
    book,
    cloud,
    concurrency: config.providerRouting.concurrency,
    caps: config.app,
    ...(backend instanceof RedisJobQueue ? { owner: backend.owner } : {}),
  });
  const providerDefault = { provider: config.providerRouting.policy, imagenDailyCap: null };
  const settings = openSettingsService(config, {
    db: book.db,
    providerDefault,
    onProblem: (guildId, problem) => logger.warn({ guildId, problem }, 'stored guild settings no longer fit; using the valid parts'),
  });
  const app = new BotApp({
    config,
    queue,
    commands,
    log: logger,
    providers: queue,
    providerDefault,
    settings,
    db: book.db,
    ...(backend instanceof RedisJobQueue ? { owner: backend.owner } : {}),
  });
  // The queues write their last rows (checkpoints) on close; the book closes the file after them.
  const closeAll = {
    close: async () => {
      await queue.close();
      book.close();
    },
  };
  let metrics: MetricsServer | undefined;
  let api: ApiServer | undefined;
  // Signals, and errors nothing caught, stop serving and close the queues and the book cleanly.
  installShutdown(closeAll, async () => {
    await api?.close();
    await metrics?.close();
    await app.stop();
  });
  try {
    await queue.whenReady();
    // METRICS_PORT equal to API_PORT: the API serves /healthz and /metrics itself.
    if (config.app.METRICS_PORT !== undefined && config.app.METRICS_PORT !== apiConfig?.port)
      metrics = await startMetricsServer(metricsPortOf(config.app.METRICS_PORT, shard), queue, config.app.METRICS_HOST);
    // One API per bot: under sharding only shard 0 serves it.
    if (apiConfig && (!shard || shard.id === 0)) {
      const { providers, catalog } = app.ctx;
      api = await serveApi({
        service: config,
        api: apiConfig,
        queue,
        db: book.db,
        settings,
        ...(providers ? { providers } : {}),
        catalog,
        log: logger,
        withMetrics: config.app.METRICS_PORT === undefined || config.app.METRICS_PORT === apiConfig.port,
      });
    }
    await app.start();
  } catch (err) {
    await api?.close().catch(() => undefined);
    await metrics?.close().catch(() => undefined);
    await closeAll.close().catch(() => undefined);
    throw err;
  }
}

/** The cloud provider from GOOGLE_API_KEY / GOOGLE_IMAGE_MODEL; without a key it is off and says so in the log. */
function cloudFromConfig(config: DiscordConfig): CloudProvider {
  for (const warning of config.google.warnings) logger.warn(warning);
  const cloud = createCloudProvider(config.google.config, { concurrency: config.providerRouting.concurrency });
  const devices = config.app.DEVICES.length;
  if (!cloud.configured) {
    const off = 'GOOGLE_API_KEY is not set: the cloud provider (Gemini) is off, so every job runs on the local devices';
    if (devices === 0) logger.warn('DEVICES=none and GOOGLE_API_KEY is not set: this bot cannot draw anything until one of them is set');
    else if (config.providerRouting.policy !== 'local') logger.warn(`${off} (IMAGE_PROVIDER=${config.providerRouting.policy} has no effect)`);
    else logger.info(off);
  } else {
    logger.info({ model: cloud.label, policy: config.providerRouting.policy, dailyCap: config.providerRouting.ownerDailyCap }, 'cloud provider is on');
  }
  return cloud;
}

// Files in DATA_DIR are private (0700/0600, src/store/private-files.ts); the umask covers any the
// code does not create itself (SQLite's journals).
process.umask(0o077);
main().catch((err: unknown) => exitWithError(err, 'imagine-bot'));

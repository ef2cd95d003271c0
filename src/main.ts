// `npm start`: the Discord bot. Registers the slash commands when their definitions changed,
// starts the job queue (one worker process per device, or the Redis producer) and the metrics
// server when METRICS_PORT is set, then connects to Discord.
import './config/load-env.js';
import { logger } from './log.js';
import { loadDiscordConfig, type DiscordConfig } from './config/discord.js';
import { createJobQueue, installShutdown, RedisJobQueue } from './queue/index.js';
import { ProviderQueue } from './queue/provider-queue.js';
import { ImagenProvider, imagenConfigFromEnv } from './providers/imagen.js';
import { ProviderError } from './providers/types.js';
import { startMetricsServer, type MetricsServer } from './metrics/server.js';
import { BotApp } from './bot/app.js';
import { createRest, describeDiscordError } from './bot/client.js';
import { exitWithError, StartupError } from './bot/fatal.js';
import { commandPayloads, loadCommands, registerIfChanged } from './bot/registry.js';
import { metricsPortOf, shardOfThisProcess } from './sharding.js';

async function main(): Promise<void> {
  const config = loadDiscordConfig();
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

  const imagen = imagenFromEnv(config);
  const backend = createJobQueue(config.app);
  // Imagen jobs run here beside the backend's devices (see src/queue/provider-queue.ts).
  const queue = new ProviderQueue(backend, {
    dataDir: config.dataDir,
    imagen,
    concurrency: config.providerRouting.concurrency,
    caps: config.app,
    ...(backend instanceof RedisJobQueue ? { owner: backend.owner } : {}),
  });
  const providerDefault = { provider: config.providerRouting.policy, imagenDailyCap: null };
  const app = new BotApp({ config, queue, commands, log: logger, providers: queue, providerDefault });
  let metrics: MetricsServer | undefined;
  installShutdown(queue, async () => {
    await metrics?.close();
    await app.stop();
  });
  try {
    await queue.whenReady();
    if (config.app.METRICS_PORT !== undefined) metrics = await startMetricsServer(metricsPortOf(config.app.METRICS_PORT, shard), queue);
    await app.start();
  } catch (err) {
    await metrics?.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    throw err;
  }
}

/** The Imagen provider from GOOGLE_API_KEY / IMAGEN_*; without a key it is off and says so in the log. */
function imagenFromEnv(config: DiscordConfig): ImagenProvider {
  let imagen: ImagenProvider;
  try {
    imagen = new ImagenProvider(imagenConfigFromEnv(process.env));
  } catch (err) {
    throw new StartupError(err instanceof ProviderError ? err.userMessage : String(err), { cause: err });
  }
  const devices = config.app.DEVICES.length;
  if (!imagen.configured) {
    const off = 'GOOGLE_API_KEY is not set: Imagen is off, so every job runs on the local devices';
    if (devices === 0) logger.warn('DEVICES=none and GOOGLE_API_KEY is not set: this bot cannot draw anything until one of them is set');
    else if (config.providerRouting.policy !== 'local') logger.warn(`${off} (IMAGE_PROVIDER=${config.providerRouting.policy} has no effect)`);
    else logger.info(off);
  } else {
    logger.info({ model: imagen.label, policy: config.providerRouting.policy, dailyCap: config.providerRouting.ownerDailyCap }, 'Imagen is on');
  }
  return imagen;
}

main().catch((err: unknown) => exitWithError(err, 'imagine-bot'));

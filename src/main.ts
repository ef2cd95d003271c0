// `npm start`: the Discord bot. Registers the slash commands when their definitions changed,
// starts the job queue (one worker process per device, or the Redis producer) and the metrics
// server when METRICS_PORT is set, then connects to Discord.
import './bot/load-env.js';
import { logger } from './log.js';
import { loadDiscordConfig } from './config/discord.js';
import { createJobQueue, installShutdown } from './queue/index.js';
import { startMetricsServer, type MetricsServer } from './metrics/server.js';
import { BotApp } from './bot/app.js';
import { createRest, describeDiscordError } from './bot/client.js';
import { exitWithError, StartupError } from './bot/fatal.js';
import { commandPayloads, loadCommands, registerIfChanged } from './bot/registry.js';

async function main(): Promise<void> {
  const config = loadDiscordConfig();
  const commands = await loadCommands();
  const target = { applicationId: config.applicationId, guildId: config.devGuildId };
  try {
    const registered = await registerIfChanged(createRest(config), commandPayloads(commands), target, config.dataDir);
    logger.info({ registered, scope: config.devGuildId ? `guild ${config.devGuildId}` : 'global' }, 'slash commands checked');
  } catch (err) {
    throw new StartupError(describeDiscordError(err, config.apiUrl), { cause: err });
  }

  const queue = createJobQueue(config.app);
  const app = new BotApp({ config, queue, commands, log: logger });
  let metrics: MetricsServer | undefined;
  installShutdown(queue, async () => {
    await metrics?.close();
    await app.stop();
  });
  try {
    await queue.whenReady();
    if (config.app.METRICS_PORT !== undefined) metrics = await startMetricsServer(config.app.METRICS_PORT, queue);
    await app.start();
  } catch (err) {
    await metrics?.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    throw err;
  }
}

main().catch((err: unknown) => exitWithError(err, 'imagine-bot'));

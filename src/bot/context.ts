// What command and button handlers get: the services of a running bot.
import type { Logger } from 'pino';
import type { DiscordConfig } from '../config/discord.js';
import type { JobQueue } from '../queue/types.js';
import type { Messenger } from './delivery.js';
import type { ModelCatalog } from './models.js';
import type { JobPresenter } from './presenter.js';

export interface BotContext {
  config: DiscordConfig;
  queue: JobQueue;
  catalog: ModelCatalog;
  messenger: Messenger;
  presenter: JobPresenter;
  log: Logger;
}

// Wires the queue to Discord: the client, the interaction router and the presenter that turns
// queue events into messages.
import { Events, type Client } from 'discord.js';
import type { Logger } from 'pino';
import type { DiscordConfig } from '../config/discord.js';
import type { JobQueue } from '../queue/types.js';
import { createClient, login } from './client.js';
import type { BotContext } from './context.js';
import { Messenger } from './delivery.js';
import { ModelCatalog } from './models.js';
import { JobPresenter, type ImageSafetyHook } from './presenter.js';
import type { CommandModule } from './registry.js';
import { routeInteraction } from './router.js';

export interface BotAppOptions {
  config: DiscordConfig;
  queue: JobQueue;
  commands: Map<string, CommandModule>;
  log: Logger;
  safety?: ImageSafetyHook;
}

export class BotApp {
  readonly client: Client;
  readonly ctx: BotContext;

  constructor(private readonly opts: BotAppOptions) {
    const { config, queue, log } = opts;
    this.client = createClient(config);
    this.client.rest.setToken(config.token);
    const messenger = new Messenger(this.client.rest, () => Date.now() + config.clockOffsetMs);
    const catalog = new ModelCatalog(config.modelsDir, config.defaultModel);
    const presenter = new JobPresenter({ queue, messenger, catalog, progressIntervalMs: config.progressIntervalMs, log, safety: opts.safety });
    this.ctx = { config, queue, catalog, messenger, presenter, log };
    // At once, not at login: jobs resumed after a restart report from the first moment, and
    // showing them needs only REST (the token is set), not the gateway.
    presenter.attach();
  }

  /** Answers interactions from now on; resolves once connected. */
  async start(): Promise<void> {
    this.client.on(Events.InteractionCreate, (i) => void routeInteraction(i, this.opts.commands, this.ctx));
    this.client.on(Events.Error, (err) => this.opts.log.error({ err }, 'discord client error'));
    await login(this.client, this.opts.config.token, this.opts.config.apiUrl);
    this.opts.log.info({ user: this.client.user?.tag }, 'connected to Discord');
  }

  /** Lets edits in flight finish (they need the REST token), then disconnects. */
  async stop(): Promise<void> {
    await this.ctx.presenter.shutdown();
    await this.client.destroy();
  }
}

// Wires the queue to Discord: the client, the interaction router and the presenter that turns
// queue events into messages.
import { Events, type Client } from 'discord.js';
import type { Logger } from 'pino';
import type { DiscordConfig } from '../config/discord.js';
import type { GuildProviderPolicy } from '../providers/policy-types.js';
import { openSettingsService, type SettingsService } from '../settings/service.js';
import { createClient, login } from './client.js';
import type { BotContext, BotQueue } from './context.js';
import { Messenger } from './messenger.js';
import { ModelCatalog } from './model-catalog.js';
import { ProviderRouter, type RoutingQueue } from './provider-routing.js';
import { JobPresenter } from './presenter.js';
import type { CommandModule } from './registry.js';
import { routeInteraction } from './router.js';
import { SafetyDelivery, type ImageSafetyHook } from './safety-delivery.js';
import { openDatabase, type Db } from '../store/db.js';
import { DeliveryStore } from '../store/deliveries.js';
import { PrefsStore } from '../store/prefs.js';
import { PendingEditStore } from '../store/pending-edits.js';

export interface BotAppOptions {
  config: DiscordConfig;
  queue: BotQueue;
  commands: Map<string, CommandModule>;
  log: Logger;
  safety?: ImageSafetyHook;
  /** Per-guild settings; opened on DATA_DIR/bot.sqlite when not given. */
  settings?: SettingsService;
  /** The provider policy for guilds that set none (the environment's). */
  providerDefault?: GuildProviderPolicy;
  /** Imagen beside the devices (main passes its ProviderQueue); without it every job runs locally. */
  providers?: RoutingQueue;
  /** The process's connection to DATA_DIR/bot.sqlite (main passes the job book's); opened here when not given. */
  db?: Db;
  /** Whose deliveries this process resumes (the Redis queue owner; '' for the local backend). */
  owner?: string;
}

export class BotApp {
  readonly client: Client;
  readonly ctx: BotContext;
  /** The outbox's connection to DATA_DIR/bot.sqlite. */
  private readonly db: Db;

  constructor(private readonly opts: BotAppOptions) {
    const { config, queue, log } = opts;
    this.client = createClient(config);
    this.client.rest.setToken(config.token);
    const messenger = new Messenger(this.client.rest, () => Date.now() + config.clockOffsetMs);
    const catalog = new ModelCatalog(config.modelsDir, config.defaultModel, config.imagenConfigured);
    const settings =
      opts.settings ??
      openSettingsService(config, {
        providerDefault: opts.providerDefault,
        onProblem: (guildId, problem) => log.warn({ guildId, problem }, 'stored guild settings no longer fit; using the valid parts'),
      });
    const safety = new SafetyDelivery({
      settings,
      catalog,
      channelIsNsfw: (id) => this.channelIsNsfw(id),
      getJob: (id) => queue.get(id),
    });
    this.db = opts.db ?? openDatabase(config.dataDir);
    const presenter = new JobPresenter({
      queue,
      deliveries: new DeliveryStore(this.db, opts.owner ?? ''),
      retry: config.deliveryRetry,
      messenger,
      catalog,
      progressIntervalMs: config.progressIntervalMs,
      log,
      safety: opts.safety ?? safety.hook,
      previewsAllowed: (job) => safety.previewsAllowed(job),
    });
    const providers = opts.providers
      ? new ProviderRouter({ queue: opts.providers, policies: settings.policy, config: config.providerRouting, log })
      : undefined;
    const prefs = new PrefsStore(this.db, (userId, problem) => log.warn({ userId, problem }, 'stored personal defaults no longer fit; ignoring them'));
    this.ctx = {
      config,
      queue,
      catalog,
      messenger,
      presenter,
      settings,
      prefs,
      pendingEdits: new PendingEditStore(this.db),
      safety,
      log,
      ...(providers ? { providers } : {}),
    };
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
    if (!this.opts.settings) this.ctx.settings.close();
    if (!this.opts.db && this.db.open) this.db.close();
  }

  /** The channel's age-restricted flag (cache, else REST); false when it cannot be read. */
  private async channelIsNsfw(channelId: string): Promise<boolean> {
    try {
      const channel = await this.client.channels.fetch(channelId);
      return channel !== null && 'nsfw' in channel && channel.nsfw === true;
    } catch (err) {
      this.opts.log.warn({ channelId, err: String(err) }, 'cannot read the channel; treating it as not age-restricted');
      return false;
    }
  }
}

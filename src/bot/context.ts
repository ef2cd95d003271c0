// What command and button handlers get: the services of a running bot.
import type { Logger } from 'pino';
import type { DiscordConfig } from '../config/discord.js';
import type { JobQueue } from '../queue/types.js';
import type { SettingsService } from '../settings/service.js';
import type { PrefsStore } from '../store/prefs.js';
import type { PendingEditStore } from '../store/pending-edits.js';
import type { Messenger } from './messenger.js';
import type { ModelCatalog } from './model-catalog.js';
import type { ProviderRouter } from './provider-routing.js';
import type { JobPresenter } from './presenter.js';
import type { SafetyDelivery } from './safety-delivery.js';

/** A device as /queue and /models show it. */
export interface BotDevice {
  device: string;
  alive: boolean;
  loadedModels: string[];
}

/** What commands use of the queue: the JobQueue, plus each device's state (/queue, /models). */
export interface BotQueue extends JobQueue {
  workers(): BotDevice[];
}

export interface BotContext {
  config: DiscordConfig;
  queue: BotQueue;
  catalog: ModelCatalog;
  messenger: Messenger;
  presenter: JobPresenter;
  /** Per-guild admin settings, usage counters and the admission check. */
  settings: SettingsService;
  /** Each user's personal defaults (/prefs). */
  prefs: PrefsStore;
  /** The images open Edit image… / Vary this image forms are about. */
  pendingEdits: PendingEditStore;
  /** What happens to images the safety checker flagged, per guild and channel. */
  safety: SafetyDelivery;
  /** Picks local or Imagen for each job (absent: everything runs locally). */
  providers?: ProviderRouter;
  log: Logger;
}

// What the bot uses of the settings: one guild's effective settings, validated changes with
// their audit rows, the admission check, and the provider policy. The bot hands it the job
// book's connection to DATA_DIR/bot.sqlite; without one it opens its own (WAL lets both share
// the file) and closes it with close().
import { openDatabase, type Db } from '../store/db.js';
import type { GuildProviderPolicy, ProviderPolicySource } from '../providers/policy-types.js';
import { checkAdmission, type Admission, type AdmissionRequest } from './admission.js';
import { applyChange, type ChangeResult, type SettingsCommand } from './changes.js';
import { effectiveSettings, type EffectiveSettings } from './effective.js';
import { ownerSettingsFrom, type OwnerSettings } from './owner.js';
import { settingsPolicySource } from './policy-source.js';
import type { GuildSettings } from './schema.js';
import { SettingsStore, type AuditEntry } from './store.js';
import { UsageStore } from './usage.js';

export class SettingsService {
  readonly store: SettingsStore;
  readonly usage: UsageStore;
  readonly policy: ProviderPolicySource;

  constructor(
    private readonly db: Db,
    readonly owner: OwnerSettings,
    /** The bot's clock (BOT_CLOCK_OFFSET_MS shifts it in tests). */
    readonly now: () => number = Date.now,
    onProblem?: (guildId: string, problem: string) => void,
    /** False when the connection is borrowed (the job book's): close() leaves it open. */
    private readonly ownsDb = true,
  ) {
    this.store = new SettingsStore(db, onProblem);
    this.usage = new UsageStore(db);
    this.policy = settingsPolicySource(this.store, owner.provider);
  }

  settings(guildId: string | null): GuildSettings {
    return guildId ? this.store.get(guildId) : {};
  }

  effective(guildId: string | null): EffectiveSettings {
    return effectiveSettings(this.settings(guildId), this.owner);
  }

  /** Validates and, when valid, stores the change with its audit row. */
  change(guildId: string, userId: string, cmd: SettingsCommand, models: string[], loras: string[] = []): ChangeResult {
    const result = applyChange(cmd, { current: this.store.get(guildId), owner: this.owner, models, loras });
    if (result.ok) this.store.write(guildId, userId, result.next, result.change, this.now());
    return result;
  }

  audit(guildId: string, limit?: number): AuditEntry[] {
    return this.store.audit(guildId, limit);
  }

  admit(req: AdmissionRequest): Admission {
    return checkAdmission(req, this.effective(req.guildId), this.usage, this.now());
  }

  close(): void {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}

/** The service over DATA_DIR/bot.sqlite, with the owner's values from the bot's config. */
export function openSettingsService(
  config: Parameters<typeof ownerSettingsFrom>[0] & { dataDir: string; clockOffsetMs: number },
  opts: {
    providerDefault?: GuildProviderPolicy;
    onProblem?: (guildId: string, problem: string) => void;
    /** An open connection to DATA_DIR/bot.sqlite to use (and leave open) instead of opening one. */
    db?: Db;
  } = {},
): SettingsService {
  const owner = ownerSettingsFrom(config, opts.providerDefault);
  const now = () => Date.now() + config.clockOffsetMs;
  return new SettingsService(opts.db ?? openDatabase(config.dataDir), owner, now, opts.onProblem, !opts.db);
}

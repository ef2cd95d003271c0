// Per-guild settings in SQLite (guild_settings) with an audit trail (settings_audit): every
// change writes the new settings and who changed what, from what, to what, in one transaction.
// Read on every use (a primary-key lookup), so several bot processes sharing DATA_DIR agree.
import type { Db } from '../store/db.js';
import { parseStoredSettings, type GuildSettings } from './schema.js';
import { StatementCache } from '../store/statements.js';

export interface AuditEntry {
  id: number;
  guildId: string;
  userId: string;
  at: number;
  /** What changed, e.g. "limits.maxSteps" or "reset limits". */
  setting: string;
  before: unknown;
  after: unknown;
}

export interface SettingsChange {
  setting: string;
  before: unknown;
  after: unknown;
}

interface AuditRow {
  id: number;
  guild_id: string;
  user_id: string;
  at: number;
  setting: string;
  before_json: string | null;
  after_json: string | null;
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
const unjson = (v: string | null) => (v === null ? undefined : (JSON.parse(v) as unknown));

export class SettingsStore {
  private readonly sql: StatementCache;

  constructor(
    private readonly db: Db,
    /** Told when a stored row no longer fits the schema (its good sections are kept). */
    private readonly onProblem: (guildId: string, problem: string) => void = () => undefined,
  ) {
    this.sql = new StatementCache(db);
  }

  get(guildId: string): GuildSettings {
    const row = this.sql.get('SELECT settings_json FROM guild_settings WHERE guild_id = ?').get(guildId) as { settings_json: string } | undefined;
    if (!row) return {};
    const { settings, problem } = parseStoredSettings(row.settings_json);
    if (problem) this.onProblem(guildId, problem);
    return settings;
  }

  /** Stores `next` as the guild's settings and records `change` as done by `userId` at `at`. */
  write(guildId: string, userId: string, next: GuildSettings, change: SettingsChange, at: number): void {
    this.db.transaction(() => {
      this.sql
        .get(
          `INSERT INTO guild_settings (guild_id, settings_json, updated_at, updated_by) VALUES (?, ?, ?, ?)
           ON CONFLICT(guild_id) DO UPDATE SET settings_json = excluded.settings_json, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by`,
        )
        .run(guildId, JSON.stringify(next), at, userId);
      this.sql
        .get('INSERT INTO settings_audit (guild_id, user_id, at, setting, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?)')
        .run(guildId, userId, at, change.setting, json(change.before), json(change.after));
    })();
  }

  /** The guild's latest changes, newest first. */
  audit(guildId: string, limit = 20): AuditEntry[] {
    const rows = this.sql.get('SELECT * FROM settings_audit WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?').all(guildId, limit) as AuditRow[];
    return rows.map((r) => ({
      id: r.id,
      guildId: r.guild_id,
      userId: r.user_id,
      at: r.at,
      setting: r.setting,
      before: unjson(r.before_json),
      after: unjson(r.after_json),
    }));
  }
}

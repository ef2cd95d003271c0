// Versioned schema: each entry runs once, in order, inside a transaction; `schema_version`
// remembers the highest applied. Append new migrations, never edit old ones.
import type Database from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  // 1: jobs and per-(model, device) step timings.
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     model TEXT NOT NULL,
     request_json TEXT NOT NULL,
     upscale_factor INTEGER,
     user_id TEXT NOT NULL,
     username TEXT NOT NULL,
     guild_id TEXT,
     channel_id TEXT NOT NULL,
     interaction_json TEXT,
     parent_json TEXT,
     message_id TEXT,
     state TEXT NOT NULL,
     init_image_path TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     device TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     error TEXT,
     outputs_json TEXT NOT NULL DEFAULT '[]',
     seeds_json TEXT NOT NULL DEFAULT '[]',
     timings_json TEXT,
     resume_first INTEGER NOT NULL DEFAULT 0,
     outputs_expired INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX jobs_state ON jobs(state, seq);
   CREATE INDEX jobs_finished ON jobs(finished_at) WHERE outputs_expired = 0;
   CREATE TABLE step_stats (
     model TEXT NOT NULL,
     device TEXT NOT NULL,
     samples INTEGER NOT NULL,
     ms_per_unit REAL NOT NULL,
     overhead_ms REAL NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (model, device)
   );`,
  // 2: which bot process owns a job (Discord shards sharing one DATA_DIR with the Redis backend).
  `ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
   CREATE INDEX jobs_owner_state ON jobs(owner, state, seq);`,
  // 3: who drew a job (local pipeline or Imagen), safety-checker flags per output, per-guild
  // admin settings with an audit trail, and indexes for per-user / per-guild usage counts.
  `ALTER TABLE jobs ADD COLUMN provider TEXT NOT NULL DEFAULT 'local';
   ALTER TABLE jobs ADD COLUMN nsfw_json TEXT NOT NULL DEFAULT '[]';
   CREATE INDEX jobs_user_created ON jobs(user_id, created_at);
   CREATE INDEX jobs_guild_provider_created ON jobs(guild_id, provider, created_at);
   CREATE TABLE guild_settings (
     guild_id TEXT PRIMARY KEY,
     settings_json TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     updated_by TEXT NOT NULL
   );
   CREATE TABLE settings_audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     guild_id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     at INTEGER NOT NULL,
     setting TEXT NOT NULL,
     before_json TEXT,
     after_json TEXT
   );
   CREATE INDEX settings_audit_guild ON settings_audit(guild_id, at);`,
  // 4: tokens the cloud provider (Gemini, billed per token) reported for each job attempt, for /stats.
  `CREATE TABLE cloud_usage (
     job_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     guild_id TEXT,
     model TEXT NOT NULL,
     at INTEGER NOT NULL,
     calls INTEGER NOT NULL,
     images INTEGER NOT NULL,
     prompt_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     thoughts_tokens INTEGER NOT NULL,
     total_tokens INTEGER NOT NULL,
     PRIMARY KEY (job_id, attempt)
   );
   CREATE INDEX cloud_usage_guild_at ON cloud_usage(guild_id, at);`,
  // 5: the delivery outbox: a finished job's last message (result, failure or cancellation
  // notice) until Discord confirmed it. `state` is pending, delivered or abandoned; jobs that
  // had already finished count as delivered.
  `CREATE TABLE deliveries (
     job_id TEXT PRIMARY KEY,
     owner TEXT NOT NULL DEFAULT '',
     kind TEXT NOT NULL,
     mode TEXT NOT NULL,
     detail_json TEXT NOT NULL DEFAULT '{}',
     state TEXT NOT NULL DEFAULT 'pending',
     attempts INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     next_at INTEGER NOT NULL,
     delivered_at INTEGER,
     message_id TEXT,
     last_error TEXT
   );
   CREATE INDEX deliveries_pending ON deliveries(state, owner, next_at);
   INSERT INTO deliveries (job_id, kind, mode, state, created_at, next_at, delivered_at, message_id)
     SELECT id, state, 'in-place', 'delivered', COALESCE(finished_at, created_at), 0, finished_at, message_id
     FROM jobs WHERE state IN ('done', 'failed', 'cancelled');`,
  // 6: HTTP API keys (src/api): the key's SHA-256 only, its limits, and when it was revoked.
  `CREATE TABLE api_keys (
     name TEXT PRIMARY KEY,
     key_hash TEXT NOT NULL UNIQUE,
     limits_json TEXT NOT NULL DEFAULT '{}',
     admin INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     last_used_at INTEGER,
     revoked_at INTEGER
   );`,
  // 7: personal defaults (/prefs), one row per user (the same everywhere; servers' limits clamp
  // them when applied); an inpainting job's mask beside its input image; where a job made from a
  // Discord message (Edit image…, Vary this image) came from, for its lineage in ℹ️; and the
  // image an open Edit image… form is about (its custom_id names the row), so a form submitted
  // after a restart still finds it.
  `CREATE TABLE user_prefs (
     user_id TEXT PRIMARY KEY,
     prefs_json TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   ALTER TABLE jobs ADD COLUMN mask_image_path TEXT;
   ALTER TABLE jobs ADD COLUMN source_json TEXT;
   ALTER TABLE jobs ADD COLUMN stealth INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE pending_edits (
     id TEXT PRIMARY KEY,
     user_id TEXT NOT NULL,
     guild_id TEXT NOT NULL,
     channel_id TEXT NOT NULL,
     message_id TEXT NOT NULL,
     author_id TEXT NOT NULL,
     image_url TEXT NOT NULL,
     width INTEGER,
     height INTEGER,
     created_at INTEGER NOT NULL
   );`,
  // 8: ControlNet: where a job's control image is stored (beside init_image_path).
  `ALTER TABLE jobs ADD COLUMN control_image_path TEXT;`,
];

/** Applies pending migrations; returns the schema version afterwards. Safe to call repeatedly. */
export function migrate(db: Database.Database, migrations: readonly string[] = MIGRATIONS): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  let version = row.v ?? 0;
  for (let i = version; i < migrations.length; i++) {
    db.transaction(() => {
      db.exec(migrations[i]);
      db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(i + 1);
    })();
    version = i + 1;
  }
  return version;
}

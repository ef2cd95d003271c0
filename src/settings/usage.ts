// Usage counted straight from the jobs table (created_at, request count, provider), so quotas
// survive restarts and cannot drift from what actually ran. A job counts unless it failed or was
// cancelled before it started: neither used a device on the user's behalf.
import type { Db } from '../store/db.js';
import { StatementCache } from '../store/statements.js';
import { ApiJobsStore } from '../store/api-jobs.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** SQL condition for jobs that count against a user's quota. */
const COUNTS = `state != 'failed' AND NOT (state = 'cancelled' AND started_at IS NULL)`;
/** Images a job asks for (upscales store count 1). */
const IMAGES = `COALESCE(json_extract(request_json, '$.count'), 1)`;

export interface UsageEntry {
  createdAt: number;
  images: number;
}

export interface DayStats {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  jobs: number;
  images: number;
  failed: number;
  imagenImages: number;
}

export interface SecondsBy {
  key: string;
  /** Display name (username for users). */
  label: string;
  seconds: number;
  jobs: number;
}

export interface GuildStats {
  days: DayStats[];
  byUser: SecondsBy[];
  byModel: SecondsBy[];
  failures: { count: number; recent: { error: string; count: number }[] };
  /** The cloud provider (Gemini): jobs and images (what the daily caps count), and the tokens it billed (cloud_usage). */
  imagen: { jobs: number; images: number; today: number; tokens: CloudTokens };
}

export interface CloudTokens {
  calls: number;
  prompt: number;
  output: number;
  total: number;
}

export class UsageStore {
  private readonly sql: StatementCache;
  /** HTTP API jobs (no guild): per-key usage for /stats. */
  readonly api: ApiJobsStore;

  constructor(db: Db) {
    this.sql = new StatementCache(db);
    this.api = new ApiJobsStore(db);
  }

  /** The user's counting jobs in this guild since `since`, oldest first. */
  userJobsSince(guildId: string | null, userId: string, since: number): UsageEntry[] {
    const rows = this.sql
      .get(
        `SELECT created_at AS createdAt, ${IMAGES} AS images FROM jobs
         WHERE user_id = ? AND guild_id IS ? AND created_at >= ? AND ${COUNTS} ORDER BY created_at ASC`,
      )
      .all(userId, guildId, since) as UsageEntry[];
    return rows;
  }

  /** When the user's latest counting job in this guild was submitted. */
  lastJobAt(guildId: string | null, userId: string): number | undefined {
    const row = this.sql.get(`SELECT MAX(created_at) AS at FROM jobs WHERE user_id = ? AND guild_id IS ? AND ${COUNTS}`).get(userId, guildId) as {
      at: number | null;
    };
    return row.at ?? undefined;
  }

  /** The user's waiting jobs in this guild (as the queue's own per-user cap counts them). */
  waitingCount(guildId: string | null, userId: string): number {
    const row = this.sql.get(`SELECT COUNT(*) AS n FROM jobs WHERE user_id = ? AND guild_id IS ? AND state = 'queued'`).get(userId, guildId) as { n: number };
    return row.n;
  }

  /** Images the cloud provider drew (or is drawing) for this guild since `since`: the daily cap's counter. */
  imagenImagesSince(guildId: string | null, since: number): number {
    const row = this.sql
      .get(`SELECT COALESCE(SUM(${IMAGES}), 0) AS n FROM jobs WHERE guild_id IS ? AND provider = 'imagen' AND created_at >= ? AND ${COUNTS}`)
      .get(guildId, since) as { n: number };
    return row.n;
  }

  /** /stats: the guild's usage over the last `days` UTC days up to `now`. */
  guildStats(guildId: string, now: number, days = 7): GuildStats {
    const today = Math.floor(now / DAY_MS) * DAY_MS;
    const since = today - (days - 1) * DAY_MS;
    const dayRows = this.sql
      .get(
        `SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day,
           SUM(CASE WHEN ${COUNTS} THEN 1 ELSE 0 END) AS jobs,
           SUM(CASE WHEN ${COUNTS} THEN ${IMAGES} ELSE 0 END) AS images,
           SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed,
           SUM(CASE WHEN provider = 'imagen' AND ${COUNTS} THEN ${IMAGES} ELSE 0 END) AS imagenImages
         FROM jobs WHERE guild_id = ? AND created_at >= ? GROUP BY day ORDER BY day DESC`,
      )
      .all(guildId, since) as DayStats[];
    // Device time: local jobs that ran, start to finish.
    const secondsBy = (column: string, label: string) =>
      this.sql
        .get(
          `SELECT ${column} AS key, ${label} AS label, SUM(finished_at - started_at) / 1000.0 AS seconds, COUNT(*) AS jobs
           FROM jobs WHERE guild_id = ? AND created_at >= ? AND provider = 'local' AND started_at IS NOT NULL AND finished_at IS NOT NULL
           GROUP BY ${column} ORDER BY seconds DESC LIMIT 10`,
        )
        .all(guildId, since) as SecondsBy[];
    const failures = this.sql
      .get(
        `SELECT COALESCE(error, 'unknown') AS error, COUNT(*) AS count FROM jobs
         WHERE guild_id = ? AND created_at >= ? AND state = 'failed' GROUP BY error ORDER BY count DESC LIMIT 3`,
      )
      .all(guildId, since) as { error: string; count: number }[];
    const imagen = this.sql
      .get(
        `SELECT COUNT(*) AS jobs, COALESCE(SUM(${IMAGES}), 0) AS images FROM jobs
         WHERE guild_id = ? AND created_at >= ? AND provider = 'imagen' AND ${COUNTS}`,
      )
      .get(guildId, since) as { jobs: number; images: number };
    const tokens = this.sql
      .get(
        `SELECT COALESCE(SUM(calls), 0) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt, COALESCE(SUM(output_tokens), 0) AS output,
           COALESCE(SUM(total_tokens), 0) AS total FROM cloud_usage WHERE guild_id = ? AND at >= ?`,
      )
      .get(guildId, since) as CloudTokens;
    return {
      days: dayRows,
      byUser: secondsBy('user_id', 'MAX(username)'),
      byModel: secondsBy("CASE WHEN kind = 'upscale' THEN 'upscale' ELSE model END", "CASE WHEN kind = 'upscale' THEN 'upscale' ELSE model END"),
      failures: { count: dayRows.reduce((n, d) => n + d.failed, 0), recent: failures },
      imagen: { ...imagen, today: this.imagenImagesSince(guildId, now - DAY_MS), tokens },
    };
  }
}

// The HTTP API's view of the jobs table: a key's recent jobs (the status page), and API usage
// per key (/stats). API jobs are the rows whose user id starts with `api:` (src/jobs/api-requester.ts).
import type { Db } from './db.js';
import { StatementCache } from './statements.js';

export interface ApiKeyUsage {
  key: string;
  jobs: number;
  images: number;
  failed: number;
  seconds: number;
}

export class ApiJobsStore {
  private readonly sql: StatementCache;

  constructor(db: Db) {
    this.sql = new StatementCache(db);
  }

  /** Ids of the newest API jobs: one user's (`api:NAME`), or every key's when `userId` is undefined. */
  recentIds(userId: string | undefined, limit: number): string[] {
    const rows = userId
      ? this.sql.get('SELECT id FROM jobs WHERE user_id = ? ORDER BY created_at DESC LIMIT ?').all(userId, limit)
      : this.sql.get("SELECT id FROM jobs WHERE user_id LIKE 'api:%' ORDER BY created_at DESC LIMIT ?").all(limit);
    return (rows as { id: string }[]).map((r) => r.id);
  }

  /** Jobs, images (of jobs that did not fail), failures and device seconds per key since `since`. */
  usageSince(since: number): ApiKeyUsage[] {
    return this.sql
      .get(
        `SELECT substr(user_id, 5) AS key, COUNT(*) AS jobs,
           SUM(CASE WHEN state = 'failed' THEN 0 ELSE COALESCE(json_extract(request_json, '$.count'), 1) END) AS images,
           SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed,
           COALESCE(SUM(CASE WHEN started_at IS NOT NULL AND finished_at IS NOT NULL THEN finished_at - started_at ELSE 0 END), 0) / 1000.0 AS seconds
         FROM jobs WHERE user_id LIKE 'api:%' AND created_at >= ? GROUP BY user_id ORDER BY jobs DESC`,
      )
      .all(since) as ApiKeyUsage[];
  }
}

// Tokens the cloud provider billed, one row per job attempt (table cloud_usage, migration 4):
// Gemini bills per token, so /stats shows them beside the image counts the daily caps use.
import type { Db } from '../store/db.js';
import type { ProviderUsage } from '../providers/types.js';

export interface CloudUsageRow extends ProviderUsage {
  jobId: string;
  attempt: number;
  guildId: string | null;
  model: string;
  /** Images the attempt drew. */
  images: number;
  at: number;
}

export class CloudUsageStore {
  constructor(private readonly db: Db) {}

  record(row: CloudUsageRow): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO cloud_usage (job_id, attempt, guild_id, model, at, calls, images, prompt_tokens, output_tokens, thoughts_tokens, total_tokens)
         VALUES (@jobId, @attempt, @guildId, @model, @at, @calls, @images, @promptTokens, @outputTokens, @thoughtsTokens, @totalTokens)`,
      )
      .run(row);
  }

  forJob(jobId: string): CloudUsageRow[] {
    return this.db
      .prepare(
        `SELECT job_id AS jobId, attempt, guild_id AS guildId, model, at, calls, images, prompt_tokens AS promptTokens,
           output_tokens AS outputTokens, thoughts_tokens AS thoughtsTokens, total_tokens AS totalTokens
         FROM cloud_usage WHERE job_id = ? ORDER BY attempt`,
      )
      .all(jobId) as CloudUsageRow[];
  }
}

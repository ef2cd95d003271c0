// The deliveries table (the bot's outbox): one row per finished job until Discord confirmed
// its last message. Rows survive restarts; the bot resumes the pending ones of its owner.
import { z } from 'zod';
import type { Db } from './db.js';

export type DeliveryKind = 'done' | 'failed' | 'cancelled';
export type DeliveryMode = 'reply' | 'in-place';
export type DeliveryState = 'pending' | 'delivered' | 'abandoned';

/** What the job record does not keep but the message needs (the upload limit the interaction gave…). */
export const deliveryDetailSchema = z.object({
  message: z.string().optional(),
  cancelledBy: z.string().optional(),
  uploadLimit: z.number().int().positive().optional(),
});
export type DeliveryDetail = z.infer<typeof deliveryDetailSchema>;

export interface Delivery {
  jobId: string;
  kind: DeliveryKind;
  mode: DeliveryMode;
  detail: DeliveryDetail;
  state: DeliveryState;
  attempts: number;
  createdAt: number;
  nextAt: number;
  deliveredAt?: number;
  messageId?: string;
  lastError?: string;
}

interface DeliveryRow {
  job_id: string;
  kind: string;
  mode: string;
  detail_json: string;
  state: string;
  attempts: number;
  created_at: number;
  next_at: number;
  delivered_at: number | null;
  message_id: string | null;
  last_error: string | null;
}

const kindSchema = z.enum(['done', 'failed', 'cancelled']);
const modeSchema = z.enum(['reply', 'in-place']);
const stateSchema = z.enum(['pending', 'delivered', 'abandoned']);

function rowToDelivery(r: DeliveryRow): Delivery {
  const parsedDetail = deliveryDetailSchema.safeParse(JSON.parse(r.detail_json));
  return {
    jobId: r.job_id,
    kind: kindSchema.parse(r.kind),
    mode: modeSchema.parse(r.mode),
    detail: parsedDetail.success ? parsedDetail.data : {},
    state: stateSchema.parse(r.state),
    attempts: r.attempts,
    createdAt: r.created_at,
    nextAt: r.next_at,
    ...(r.delivered_at !== null ? { deliveredAt: r.delivered_at } : {}),
    ...(r.message_id !== null ? { messageId: r.message_id } : {}),
    ...(r.last_error !== null ? { lastError: r.last_error } : {}),
  };
}

export class DeliveryStore {
  // Prepared once: every job finishing goes through these.
  private readonly stmts;

  constructor(
    db: Db,
    /** The bot process whose deliveries these are (Redis shards share one DATA_DIR). */
    private readonly owner = '',
  ) {
    this.stmts = {
      add: db.prepare(
        `INSERT OR IGNORE INTO deliveries (job_id, owner, kind, mode, detail_json, created_at, next_at)
         VALUES (@job_id, @owner, @kind, @mode, @detail_json, @created_at, @created_at)`,
      ),
      get: db.prepare('SELECT * FROM deliveries WHERE job_id = ?'),
      pending: db.prepare(`SELECT * FROM deliveries WHERE state = 'pending' AND owner = ? ORDER BY next_at`),
      retry: db.prepare(
        `UPDATE deliveries SET attempts = @attempts, next_at = @next_at, last_error = @last_error WHERE job_id = @job_id AND state = 'pending'`,
      ),
      delivered: db.prepare(
        `UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = @at, message_id = @message_id, last_error = NULL WHERE job_id = @job_id`,
      ),
      abandon: db.prepare(`UPDATE deliveries SET state = 'abandoned', attempts = attempts + 1, last_error = @last_error WHERE job_id = @job_id`),
      // Jobs that finished with no row (the process stopped between the job's last state write
      // and the outbox row, or after the presenter stopped listening): owed too. Rows for every
      // job finished before the outbox existed were written by its migration. HTTP API jobs
      // (user ids `api:…`, src/jobs/api-requester.ts) are fetched by their clients, never posted.
      adopt: db.prepare(
        `INSERT OR IGNORE INTO deliveries (job_id, owner, kind, mode, detail_json, created_at, next_at)
         SELECT j.id, j.owner, j.state,
           CASE WHEN j.state = 'done' AND j.interaction_json IS NOT NULL THEN 'reply' ELSE 'in-place' END,
           CASE WHEN j.error IS NOT NULL THEN json_object('message', j.error) ELSE '{}' END,
           COALESCE(j.finished_at, j.created_at), 0
         FROM jobs j LEFT JOIN deliveries d ON d.job_id = j.id
         WHERE d.job_id IS NULL AND j.owner = ? AND j.state IN ('done', 'failed', 'cancelled') AND j.user_id NOT LIKE 'api:%'
           AND COALESCE(j.finished_at, j.created_at) >= ?`,
      ),
      undelivered: db.prepare(
        `SELECT d.job_id AS job_id FROM deliveries d JOIN jobs j ON j.id = d.job_id
         WHERE d.state = 'pending' AND j.user_id = ? AND j.guild_id IS ? ORDER BY d.created_at`,
      ),
    };
  }

  /** Records a job's last message as owed; false when it already was (a repeated event). */
  add(d: { jobId: string; kind: DeliveryKind; mode: DeliveryMode; detail: DeliveryDetail; at: number }): boolean {
    const info = this.stmts.add.run({
      job_id: d.jobId,
      owner: this.owner,
      kind: d.kind,
      mode: d.mode,
      detail_json: JSON.stringify(d.detail),
      created_at: d.at,
    });
    return info.changes > 0;
  }

  get(jobId: string): Delivery | undefined {
    const row = this.stmts.get.get(jobId) as DeliveryRow | undefined;
    return row ? rowToDelivery(row) : undefined;
  }

  /** Records as owed this owner's jobs that finished since `since` without a row; returns how many. */
  adoptFinished(since: number): number {
    return this.stmts.adopt.run(this.owner, since).changes;
  }

  /** This owner's deliveries still owed, soonest first. */
  pending(): Delivery[] {
    return (this.stmts.pending.all(this.owner) as DeliveryRow[]).map(rowToDelivery);
  }

  retryAt(jobId: string, attempts: number, nextAt: number, error: string): void {
    this.stmts.retry.run({ job_id: jobId, attempts, next_at: nextAt, last_error: error.slice(0, 500) });
  }

  delivered(jobId: string, messageId: string, at: number): void {
    this.stmts.delivered.run({ job_id: jobId, message_id: messageId, at });
  }

  abandon(jobId: string, error: string): void {
    this.stmts.abandon.run({ job_id: jobId, last_error: error.slice(0, 500) });
  }

  /** Ids of a user's finished jobs in a guild whose message Discord has not confirmed yet. */
  undeliveredOf(userId: string, guildId: string | null): string[] {
    return (this.stmts.undelivered.all(userId, guildId) as { job_id: string }[]).map((r) => r.job_id);
  }
}

// The jobs table as JobRecords: every field round-trips; queue bookkeeping (insertion order,
// "resume first" after an interruption) stays here and out of the public record.
import { z } from 'zod';
import type { Db } from './db.js';
import type { JobKind, JobProvider, JobRecord, JobState } from '../jobs/types.js';
import { StatementCache } from './statements.js';

interface JobRow {
  seq: number;
  id: string;
  kind: string;
  model: string;
  request_json: string;
  upscale_factor: number | null;
  user_id: string;
  username: string;
  guild_id: string | null;
  channel_id: string;
  interaction_json: string | null;
  parent_json: string | null;
  message_id: string | null;
  state: string;
  init_image_path: string | null;
  mask_image_path: string | null;
  source_json: string | null;
  stealth: number;
  control_image_path: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  device: string | null;
  attempts: number;
  error: string | null;
  outputs_json: string;
  seeds_json: string;
  timings_json: string | null;
  resume_first: number;
  outputs_expired: number;
  owner: string;
  provider: string;
  nsfw_json: string;
}

const interactionSchema = z.object({ applicationId: z.string(), token: z.string(), createdAt: z.number() });
const parentSchema = z.object({ jobId: z.string(), imageIndex: z.number().int(), action: z.string().max(40).optional() });
const sourceSchema = z.object({
  action: z.string().max(40),
  channelId: z.string(),
  messageId: z.string(),
  authorId: z.string(),
  region: z.string().max(40).optional(),
});
const timingsSchema = z.object({ totalMs: z.number(), stepMs: z.number() });

function _opt<T>(v: T | null): T | undefined {
  return v === null ? undefined : v;
}

function rowToRecord(r: JobRow): JobRecord {
  const rec: JobRecord = {
    id: r.id,
    kind: r.kind as JobKind,
    model: r.model,
    request: JSON.parse(r.request_json),
    requester: { userId: r.user_id, username: r.username, guildId: r.guild_id, channelId: r.channel_id },
    state: r.state as JobState,
    createdAt: r.created_at,
    attempts: r.attempts,
    outputs: z.array(z.string()).parse(JSON.parse(r.outputs_json)),
    seeds: z.array(z.number()).parse(JSON.parse(r.seeds_json)),
    nsfw: z.array(z.boolean()).parse(JSON.parse(r.nsfw_json)),
  };
  if (r.provider === 'imagen') rec.provider = 'imagen';
  if (r.upscale_factor === 2 || r.upscale_factor === 4) rec.upscaleFactor = r.upscale_factor;
  if (r.interaction_json) rec.interaction = interactionSchema.parse(JSON.parse(r.interaction_json));
  if (r.parent_json) rec.parent = parentSchema.parse(JSON.parse(r.parent_json));
  if (r.message_id !== null) rec.messageId = r.message_id;
  if (r.init_image_path !== null) rec.initImagePath = r.init_image_path;
  if (r.mask_image_path !== null) rec.maskImagePath = r.mask_image_path;
  if (r.source_json) rec.source = sourceSchema.parse(JSON.parse(r.source_json));
  if (r.stealth) rec.stealth = true;
  if (r.control_image_path) rec.controlImagePath = r.control_image_path;
  if (r.started_at !== null) rec.startedAt = r.started_at;
  if (r.finished_at !== null) rec.finishedAt = r.finished_at;
  if (r.device !== null) rec.device = r.device;
  if (r.error !== null) rec.error = r.error;
  if (r.timings_json) rec.timings = timingsSchema.parse(JSON.parse(r.timings_json));
  if (r.outputs_expired) rec.outputsExpired = true;
  return rec;
}

export interface StoredJob {
  record: JobRecord;
  seq: number;
  resumeFirst: boolean;
}

/** The columns a job's life changes; written on insert and on every update. */
function mutableColumns(job: JobRecord) {
  return {
    state: job.state,
    started_at: job.startedAt ?? null,
    finished_at: job.finishedAt ?? null,
    device: job.device ?? null,
    attempts: job.attempts,
    error: job.error ?? null,
    outputs_json: JSON.stringify(job.outputs),
    seeds_json: JSON.stringify(job.seeds),
    timings_json: job.timings ? JSON.stringify(job.timings) : null,
    message_id: job.messageId ?? null,
    outputs_expired: job.outputsExpired ? 1 : 0,
    nsfw_json: JSON.stringify(job.nsfw),
    provider: job.provider ?? 'local',
  };
}

export class JobStore {
  private readonly sql: StatementCache;

  constructor(db: Db) {
    this.sql = new StatementCache(db);
  }

  /** Inserts a new job; returns its insertion sequence (the FIFO order). */
  insert(job: JobRecord, owner = ''): number {
    const info = this.sql
      .get(
        `INSERT INTO jobs (id, kind, model, request_json, upscale_factor, user_id, username, guild_id, channel_id,
           interaction_json, parent_json, message_id, state, init_image_path, mask_image_path, source_json, stealth, created_at, started_at,
           finished_at, device, attempts, error, outputs_json, seeds_json, timings_json, outputs_expired, nsfw_json, provider, owner, control_image_path)
         VALUES (@id, @kind, @model, @request_json, @upscale_factor, @user_id, @username, @guild_id, @channel_id,
           @interaction_json, @parent_json, @message_id, @state, @init_image_path, @mask_image_path, @source_json, @stealth, @created_at, @started_at,
           @finished_at, @device, @attempts, @error, @outputs_json, @seeds_json, @timings_json, @outputs_expired, @nsfw_json, @provider, @owner, @control_image_path)`,
      )
      .run({
        id: job.id,
        kind: job.kind,
        model: job.model,
        request_json: JSON.stringify(job.request),
        upscale_factor: job.upscaleFactor ?? null,
        user_id: job.requester.userId,
        username: job.requester.username,
        guild_id: job.requester.guildId,
        channel_id: job.requester.channelId,
        interaction_json: job.interaction ? JSON.stringify(job.interaction) : null,
        parent_json: job.parent ? JSON.stringify(job.parent) : null,
        init_image_path: job.initImagePath ?? null,
        mask_image_path: job.maskImagePath ?? null,
        source_json: job.source ? JSON.stringify(job.source) : null,
        stealth: job.stealth ? 1 : 0,
        control_image_path: job.controlImagePath ?? null,
        created_at: job.createdAt,
        ...mutableColumns(job),
        owner,
      });
    return Number(info.lastInsertRowid);
  }

  /** Writes the mutable fields of a job; `resumeFirst` left out keeps the stored flag. */
  update(job: JobRecord, opts: { resumeFirst?: boolean } = {}): void {
    this.sql
      .get(
        `UPDATE jobs SET state = @state, started_at = @started_at, finished_at = @finished_at, device = @device,
           attempts = @attempts, error = @error, outputs_json = @outputs_json, seeds_json = @seeds_json,
           timings_json = @timings_json, message_id = @message_id, resume_first = COALESCE(@resume_first, resume_first),
           outputs_expired = @outputs_expired, nsfw_json = @nsfw_json, provider = @provider
         WHERE id = @id`,
      )
      .run({
        id: job.id,
        ...mutableColumns(job),
        resume_first: opts.resumeFirst === undefined ? null : opts.resumeFirst ? 1 : 0,
      });
  }

  /** Notes where a job's input image was stored, for jobs whose row is written before the file. */
  setInitImagePath(id: string, path: string): void {
    this.sql.get('UPDATE jobs SET init_image_path = ? WHERE id = ?').run(path, id);
  }

  get(id: string): JobRecord | undefined {
    const row = this.sql.get('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? rowToRecord(row) : undefined;
  }

  /** Unfinished jobs in resume order (interrupted ones first, then by submission); all owners unless one is named. */
  unfinished(owner?: string): StoredJob[] {
    const rows = (
      owner === undefined
        ? this.sql.get(`SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY resume_first DESC, seq ASC`).all()
        : this.sql.get(`SELECT * FROM jobs WHERE owner = ? AND state IN ('queued', 'running') ORDER BY resume_first DESC, seq ASC`).all(owner)
    ) as JobRow[];
    return rows.map((r) => ({ record: rowToRecord(r), seq: r.seq, resumeFirst: r.resume_first === 1 || r.state === 'running' }));
  }

  /** Finished jobs whose outputs are older than `before` and still on disk. */
  expirable(before: number): JobRecord[] {
    const rows = this.sql
      .get(`SELECT * FROM jobs WHERE outputs_expired = 0 AND finished_at IS NOT NULL AND finished_at < ? AND state IN ('done', 'failed', 'cancelled')`)
      .all(before) as JobRow[];
    return rows.map(rowToRecord);
  }

  /**
   * Images asked of `provider` by jobs created since `since`, in one guild (null: outside
   * guilds) or, with `guildId` undefined, everywhere. Failed jobs and jobs cancelled before they
   * started do not count (as in the per-user quotas): nothing was drawn for them.
   */
  imagesSince(provider: JobProvider, since: number, guildId?: string | null): number {
    const counts = `provider = ? AND created_at >= ? AND state != 'failed' AND NOT (state = 'cancelled' AND started_at IS NULL)`;
    const images = `COALESCE(SUM(COALESCE(json_extract(request_json, '$.count'), 1)), 0)`;
    const row = (
      guildId === undefined
        ? this.sql.get(`SELECT ${images} AS n FROM jobs WHERE ${counts}`).get(provider, since)
        : this.sql.get(`SELECT ${images} AS n FROM jobs WHERE guild_id IS ? AND ${counts}`).get(guildId, provider, since)
    ) as { n: number };
    return row.n;
  }
}

// Keeping the Redis backend's jobs true after gaps: at start-up it takes over the unfinished
// jobs of bot processes that no longer exist, and then (at once and every reconcileMs) it brings
// each unfinished job of ours in line with Redis (missed events, jobs Redis lost).
import { jobLogger, logger } from '../log.js';
import { ownsOrphansOf, type ShardIdentity } from '../sharding.js';
import type { Db } from '../store/db.js';
import type { JobBook } from './job-book.js';
import type { RedisEventHandler } from './redis-events.js';
import type { RedisJobs } from './redis-jobs.js';
import type { LaneSet } from './redis-lanes.js';
import type { JobRecord } from './types.js';

/**
 * Re-owns unfinished jobs of bot processes that no longer exist (the shard count went down,
 * or sharding was turned on or off), so exactly one process reports each of them.
 */
export function adoptOrphans(db: Db, owner: string, shard: ShardIdentity | undefined, customOwner: boolean): void {
  const rows = db.prepare(`SELECT DISTINCT owner FROM jobs WHERE state IN ('queued', 'running')`).all() as { owner: string }[];
  const adopt = db.prepare(`UPDATE jobs SET owner = ? WHERE owner = ? AND state IN ('queued', 'running')`);
  for (const { owner: other } of rows) {
    if (other === owner || !ownsOrphansOf(other, shard, customOwner)) continue;
    const { changes } = adopt.run(owner, other);
    if (changes > 0) logger.info({ from: other, to: owner, jobs: changes }, 'took over unfinished jobs of a bot process that no longer runs');
  }
}

export interface ReconcileContext {
  jobs: RedisJobs;
  lanes: LaneSet;
  book: JobBook;
  events: RedisEventHandler;
  /** Puts a job (back) on Redis with this priority. */
  enqueue: (record: JobRecord, priority: number) => Promise<void>;
  closed: () => boolean;
}

/** Brings every unfinished job of ours in line with Redis; re-adds any that Redis lost. */
export async function reconcile(ctx: ReconcileContext): Promise<void> {
  const { jobs } = ctx;
  for (const record of [...jobs.tracked.values()]) {
    if (ctx.closed()) return;
    // Being submitted right now: not in Redis yet, or its events are waiting for 'queued'.
    if (jobs.announcing.has(record.id)) continue;
    const job = (await ctx.lanes.find(record))?.job;
    if (!job) {
      if (!jobs.tracked.has(record.id) || jobs.settling.has(record.id)) continue;
      jobLogger(record.id).warn('job missing from Redis; queueing it again');
      record.state = 'queued';
      delete record.startedAt;
      ctx.book.save(record);
      await ctx.enqueue(record, 1);
      continue;
    }
    const state = await job.getState();
    if (state === 'completed') await ctx.events.onCompleted(record.id, job.returnvalue);
    else if (state === 'failed') await ctx.events.onFailed(record.id, job.failedReason);
    else if (state === 'active') await ctx.events.onProgress(record.id, job.progress);
    else if (record.state === 'running') ctx.events.onWaiting(record.id);
  }
}

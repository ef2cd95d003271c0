// The Redis backend's record of the jobs this bot process reports (QUEUE_OWNER), shared by
// submit, event handling and reconciliation, and the one way such a job ends.
import type { JobRecord } from '../jobs/types.js';
import type { JobBook } from './job-book.js';
import { announceOutcome } from './job-lifecycle.js';
import type { LaneSet } from './redis-lanes.js';
import type { QueuePosition } from './types.js';

export type Finished = 'done' | 'failed' | 'cancelled';

export class RedisJobs {
  /** Unfinished jobs this process submitted (or restored): only these are reported. */
  readonly tracked = new Map<string, JobRecord>();
  /** Results being stored right now: other events and the reconcile loop leave these alone. */
  readonly settling = new Set<string>();
  readonly lastPublished = new Map<string, QueuePosition>();
  /**
   * Submitted but not yet announced with 'queued': no 'position' event may come first, and the
   * job's events from Redis (a worker may start, even finish, it at once) wait for `gate`.
   */
  readonly announcing = new Map<string, { gate: Promise<void>; open: () => void }>();
  private readonly finishWaiters = new Map<string, ((state: Finished) => void)[]>();

  constructor(
    private readonly book: JobBook,
    private readonly hooks: {
      /** The lanes once connected (a finished job is removed from its lane). */
      lanes: () => LaneSet | undefined;
      /** Something changed that positions depend on. */
      changed: () => void;
    },
  ) {}

  finish(record: JobRecord, wanted: Finished, removeFromRedis = true): void {
    if (!this.tracked.has(record.id)) return;
    const state = this.book.settle(record, wanted);
    this.tracked.delete(record.id);
    this.lastPublished.delete(record.id);
    this.book.metrics.jobsTotal.inc({ outcome: state });
    announceOutcome(this.book.emit, record, state);
    for (const w of this.finishWaiters.get(record.id) ?? []) w(state);
    this.finishWaiters.delete(record.id);
    const lanes = this.hooks.lanes();
    if (removeFromRedis && lanes)
      void lanes
        .find(record)
        .then((found) => found?.lane.queue.remove(record.id))
        .catch(() => 0);
    this.hooks.changed();
  }

  /** A job of another process (or already untracked) ended through us: store it only. */
  finishElsewhere(record: JobRecord, state: Finished): void {
    if (this.tracked.has(record.id)) {
      this.finish(record, state, false);
      return;
    }
    this.book.settle(record, state);
  }

  /** Calls `fn` once the tracked job has finished. */
  onFinished(jobId: string, fn: (state: Finished) => void): void {
    const list = this.finishWaiters.get(jobId) ?? [];
    list.push(fn);
    this.finishWaiters.set(jobId, list);
  }
}

// The bot's handles on the lanes of the Redis backend: the base BullMQ queue (upscales, custom
// events, jobs of builds before lanes) and one queue per model (redis-protocol.ts, laneName).
// Each lane gets a Queue for adding and reading jobs and a QueueEvents for its progress,
// completed, failed… events; lanes open on first use and stay open until close().
import { Queue, QueueEvents, type Job, type JobType } from 'bullmq';
import { EVENTS_MAX_LEN, laneOf, lanesKey } from './redis-protocol.js';
import type { RedisClient } from './redis-connection.js';

export interface Lane {
  name: string;
  queue: Queue;
  events: QueueEvents;
}

export interface LaneSetOptions {
  baseQueue: string;
  prefix: string;
  /** A new Redis connection (QueueEvents needs its own, for blocking reads). */
  connect: () => RedisClient;
  /** The client for the lane registry (plain commands). */
  client: RedisClient;
  /** Subscribes the owner's handlers to a lane's events (called once per lane, before it is ready). */
  listen: (events: QueueEvents) => void;
}

export class LaneSet {
  private readonly lanes = new Map<string, Promise<Lane>>();
  /** Models whose lane this process has registered (SADD) already. */
  private readonly registered = new Set<string>();

  constructor(private readonly opts: LaneSetOptions) {}

  /** The base queue's lane. */
  base(): Promise<Lane> {
    return this.open(this.opts.baseQueue);
  }

  /** The lane `job` waits on (opened if need be). */
  laneFor(job: { kind: string; model: string }): Promise<Lane> {
    return this.open(laneOf(this.opts.baseQueue, job));
  }

  /** Adds `model` to the registry worker hosts read their lanes from (once per process). */
  async register(model: string): Promise<void> {
    if (this.registered.has(model)) return;
    await this.opts.client.sadd(lanesKey(this.opts.prefix, this.opts.baseQueue), model);
    this.registered.add(model);
  }

  /** Opens the lanes of every model any bot has registered (their waiting jobs count for caps and positions). */
  async openRegistered(): Promise<void> {
    const models = await this.opts.client.smembers(lanesKey(this.opts.prefix, this.opts.baseQueue));
    await Promise.all(models.map((model) => this.laneFor({ kind: 'txt2img', model })));
  }

  open(name: string): Promise<Lane> {
    let lane = this.lanes.get(name);
    if (!lane) {
      lane = this.create(name);
      this.lanes.set(name, lane);
      // A failed open is retried by the next caller.
      lane.catch(() => this.lanes.delete(name));
    }
    return lane;
  }

  private async create(name: string): Promise<Lane> {
    const { prefix, connect } = this.opts;
    const queue = new Queue(name, { prefix, connection: connect() as never, streams: { events: { maxLen: EVENTS_MAX_LEN } } });
    const events = new QueueEvents(name, { prefix, connection: connect() as never });
    this.opts.listen(events);
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    return { name, queue, events };
  }

  /** Every lane opened so far. */
  async all(): Promise<Lane[]> {
    const settled = await Promise.allSettled(this.lanes.values());
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  /** The job in Redis: on its lane, or on the base queue (queued by a build before lanes). */
  async find(job: { id: string; kind: string; model: string }): Promise<{ lane: Lane; job: Job } | undefined> {
    const own = await this.laneFor(job);
    const found = await own.queue.getJob(job.id);
    if (found) return { lane: own, job: found };
    if (own.name === this.opts.baseQueue) return undefined;
    const base = await this.base();
    const old = await base.queue.getJob(job.id);
    return old ? { lane: base, job: old } : undefined;
  }

  /**
   * Jobs in `types` across every lane, in the order they would roughly start: priority, then
   * age (BullMQ's order within a lane; across lanes the devices decide, src/queue/affinity.ts).
   */
  async jobs(types: JobType[]): Promise<Job[]> {
    const lanes = await this.all();
    const lists = await Promise.all(lanes.map((l) => l.queue.getJobs(types, 0, -1, true)));
    return lists.flat().sort((a, b) => (a.priority || 0) - (b.priority || 0) || a.timestamp - b.timestamp);
  }

  async close(): Promise<void> {
    const lanes = await this.all();
    await Promise.allSettled(lanes.flatMap((l) => [l.events.close(), l.queue.close()]));
  }
}

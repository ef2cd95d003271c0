// The Redis backend, bot side (QUEUE_BACKEND=redis): jobs go onto BullMQ queues that worker
// hosts (`npm run worker`) consume, one "lane" per model so hosts can prefer the models they
// have loaded (redis-lanes.ts, affinity.ts). SQLite in DATA_DIR stays the bot's record of every
// job; Redis is the transport. Fairness uses BullMQ priorities (a user's k-th waiting job
// competes with everyone else's k-th); the caps are the bot's own admission check, as BullMQ has none.
import { announceOutcome, learnSpeed, newJobRecord, publishPositions } from './job-lifecycle.js';
import { QueueEventsProducer, type Job, type QueueEvents } from 'bullmq';
import type { AppConfig } from '../config/env.js';
import { InputError } from '../diffusion/errors.js';
import { jobLogger, logger } from '../log.js';
import type { QueueMetrics } from '../metrics/queue-metrics.js';
import type { ObservableQueue } from '../metrics/server.js';
import { ownsOrphansOf, shardOfThisProcess, shardOwner, type ShardIdentity } from '../sharding.js';
import { assertWithinCaps } from './admission.js';
import { projectPositions } from './estimates.js';
import { STORAGE_FULL_MESSAGE, StorageFullError } from '../store/storage-errors.js';
import { BookedQueue, type JobBook } from './job-book.js';
import type { QueueConfig } from './local-queue.js';
import { resolveModelName } from './model-names.js';
import { redisConnector, type RedisClient, type RedisConnector } from './redis-connection.js';
import { LaneSet } from './redis-lanes.js';
import {
  CANCEL_EVENT,
  CANCELLED_REASON,
  EVENTS_MAX_LEN,
  HEARTBEAT_STALE_MS,
  JOB_ATTEMPTS,
  JOB_NAME,
  LANE_EVENT,
  devicesKey,
  laneName,
  heartbeatSchema,
  redisJobDataSchema,
  redisProgressSchema,
  redisResultSchema,
  type Heartbeat,
  type RedisJobData,
} from './redis-protocol.js';
import type { CancelResult, CapacityProbe, JobQueue, JobRecord, JobSpec, LocalCapacity, QueuePosition } from './types.js';

export type RedisQueueConfig = QueueConfig & Pick<AppConfig, 'REDIS_URL' | 'REDIS_QUEUE' | 'REDIS_PREFIX' | 'QUEUE_OWNER'>;

export interface RedisQueueOptions {
  /** The process's job book (default: one of its own on DATA_DIR, closed with the queue). */
  book?: JobBook;
  /** Metrics of the book it opens when given none. */
  metrics?: QueueMetrics;
  /** How long cancel() waits for a running job to stop before recording it as cancelled anyway. */
  cancelGraceMs?: number;
  /** How often unfinished jobs are checked against Redis (missed events, lost jobs). */
  reconcileMs?: number;
}

/** BullMQ priorities run 1 (first) to 2^21. */
const MAX_PRIORITY = 2_097_151;
const RESULT_TTL_S = 7 * 86_400;
const QUEUE_UNAVAILABLE = 'The job queue (Redis) is unavailable right now; try again in a minute.';

type Finished = 'done' | 'failed' | 'cancelled';

export class RedisJobQueue extends BookedQueue implements JobQueue, ObservableQueue {
  /** Which bot process reports a job (QUEUE_OWNER); ProviderQueue stores its Imagen jobs under it too. */
  readonly owner: string;
  /** Unfinished jobs this process submitted (or restored): only these are reported. */
  private readonly tracked = new Map<string, JobRecord>();
  private readonly settling = new Set<string>();
  private readonly finishWaiters = new Map<string, ((state: Finished) => void)[]>();
  private readonly lastPublished = new Map<string, QueuePosition>();
  /**
   * Submitted but not yet announced with 'queued': no 'position' event may come first, and the
   * job's events from Redis (a worker may start, even finish, it at once) wait for `gate`.
   */
  private readonly announcing = new Map<string, { gate: Promise<void>; open: () => void }>();
  private readonly ready: Promise<void>;
  private lanes?: LaneSet;
  private producer?: QueueEventsProducer;
  private client?: RedisClient;
  private connector?: RedisConnector;
  private snapshot: QueuePosition[] = [];
  private devices: Heartbeat[] = [];
  /** What the last refresh projected positions from (for localCapacity). */
  private lastLoad: { waiting: Pick<JobRecord, 'id' | 'kind' | 'model' | 'request'>[]; loads: { device: string; busyForMs: number }[] } = { waiting: [], loads: [] };
  private connected = false;
  private closed = false;
  private submitting: Promise<unknown> = Promise.resolve();
  private refreshing?: Promise<Map<string, QueuePosition>>;
  private refreshAgain = false;
  private refreshTimer?: NodeJS.Timeout;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: RedisQueueConfig,
    private readonly opts: RedisQueueOptions = {},
  ) {
    if (!config.REDIS_URL) throw new Error('QUEUE_BACKEND=redis needs REDIS_URL (e.g. redis://localhost:6379).');
    super({ given: opts.book, dataDir: config.DATA_DIR, options: { metrics: opts.metrics, noopStepMs: config.NOOP_STEP_MS } });
    this.book.addLive((id) => this.tracked.get(id));
    const shard = shardOfThisProcess();
    this.owner = config.QUEUE_OWNER ?? (shard ? shardOwner(shard) : 'bot');
    this.adoptOrphans(shard, config.QUEUE_OWNER !== undefined);
    // Imagen jobs never go to Redis: ProviderQueue runs them in this process.
    for (const { record } of this.book.store.unfinished(this.owner)) if (record.provider !== 'imagen') this.tracked.set(record.id, record);
    this.book.tryWrite('retention sweep', () => this.book.files.sweep(this.book.store, config.OUTPUT_RETENTION_DAYS));
    this.ready = this.init(config.REDIS_URL);
    this.ready.catch((err: unknown) => logger.error({ err }, 'redis queue failed to start'));
  }

  // ---- public API -------------------------------------------------------------------------

  /** Resolves once connected to Redis and caught up with jobs left from the last run. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  submit(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }> {
    // One at a time, so the cap check and the add cannot interleave within this process.
    const next = this.submitting.then(() => this.submitNow(spec));
    this.submitting = next.catch(() => undefined);
    return next;
  }

  async cancel(jobId: string, by: { userId: string; isAdmin?: boolean }): Promise<CancelResult> {
    const record = this.get(jobId);
    if (!record) return 'not_found';
    if (!by.isAdmin && record.requester.userId !== by.userId) return 'forbidden';
    if (record.state !== 'queued' && record.state !== 'running') return 'already_finished';
    await this.readyWithin(10_000);
    const found = await this.lanes!.find(record);
    if (found && (await found.lane.queue.remove(jobId).catch(() => 0)) === 1) {
      this.finishElsewhere(record, 'cancelled');
      return 'cancelled';
    }
    const job = found ? await found.lane.queue.getJob(jobId) : undefined;
    const state = job ? await job.getState() : 'unknown';
    if (state === 'completed' || state === 'failed') return 'already_finished';
    if (!job) {
      this.finishElsewhere(record, 'cancelled');
      return 'cancelled';
    }
    // Running on a worker host: ask it to stop at the next step, and wait to hear back.
    const ours = this.tracked.has(jobId);
    await this.producer!.publishEvent({ eventName: CANCEL_EVENT, jobId }, EVENTS_MAX_LEN);
    // Another bot process reports that job; ours may have ended while the event went out.
    if (!ours) return 'cancelled';
    if (!this.tracked.has(jobId)) return this.get(jobId)?.state === 'cancelled' ? 'cancelled' : 'already_finished';
    return new Promise<CancelResult>((resolve) => {
      const timer = setTimeout(() => {
        // The host did not answer (gone?): record the cancellation; its late result is ignored.
        const r = this.tracked.get(jobId);
        if (r) this.finish(r, 'cancelled');
      }, this.opts.cancelGraceMs ?? 15_000);
      timer.unref();
      this.onFinished(jobId, (state) => {
        clearTimeout(timer);
        resolve(state === 'cancelled' ? 'cancelled' : 'already_finished');
      });
    });
  }

  /** Live worker devices whose host has the job's model, and when one would start it behind the waiting line as last refreshed. */
  localCapacity(job: CapacityProbe): LocalCapacity {
    // As the hosts decide: upscales need no model, simulated (noop) devices run any name.
    const able = this.devices.filter((d) => job.kind === 'upscale' || d.models.includes(job.model) || /(^|\/)noop:/.test(d.device));
    if (able.length === 0) return { devices: 0, etaMs: 0 };
    const probe = { id: '#capacity-probe', kind: job.kind, model: job.model, request: job.request };
    const projected = projectPositions([...this.lastLoad.waiting, probe], this.lastLoad.loads, this.book.estimator);
    return { devices: able.length, etaMs: projected.at(-1)?.pos.etaMs ?? 0 };
  }

  /** Running jobs of this process (position 0), then every waiting job, as last refreshed. */
  positions(): QueuePosition[] {
    const running = [...this.tracked.values()]
      .filter((r) => r.state === 'running')
      .map((r) => ({ jobId: r.id, position: 0, etaMs: 0, ...(r.device ? { device: r.device } : {}) }));
    return [...running, ...this.snapshot];
  }

  /** Devices of live worker hosts, from their heartbeats. */
  workers(): { device: string; pid: number | undefined; alive: boolean; busy: boolean; jobId: string | undefined; loadedModels: string[] }[] {
    return this.devices.map((d) => ({
      device: d.device,
      pid: d.pid,
      alive: true,
      busy: Boolean(d.jobId),
      jobId: d.jobId,
      loadedModels: d.loadedModels,
    }));
  }

  health(): ReturnType<ObservableQueue['health']> {
    return {
      ok: !this.closed && this.connected,
      workers: this.workers().map(({ device, pid, alive, busy }) => ({ device, pid, alive, busy })),
      queued: this.snapshot.length,
    };
  }

  /**
   * Stops taking work and disconnects. Jobs keep running on the worker hosts and waiting in
   * Redis; the next start picks up their results (SQLite still lists them as unfinished).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.refreshTimer);
    await this.ready.catch(() => undefined);
    await this.submitting;
    await Promise.allSettled([this.lanes?.close(), this.producer?.close()]);
    await this.connector?.closeAll();
    this.closeBook();
  }

  // ---- start-up -----------------------------------------------------------------------------

  /**
   * Re-owns unfinished jobs of bot processes that no longer exist (the shard count went down,
   * or sharding was turned on or off), so exactly one process reports each of them.
   */
  private adoptOrphans(shard: ShardIdentity | undefined, customOwner: boolean): void {
    const rows = this.book.db.prepare(`SELECT DISTINCT owner FROM jobs WHERE state IN ('queued', 'running')`).all() as { owner: string }[];
    const adopt = this.book.db.prepare(`UPDATE jobs SET owner = ? WHERE owner = ? AND state IN ('queued', 'running')`);
    for (const { owner } of rows) {
      if (owner === this.owner || !ownsOrphansOf(owner, shard, customOwner)) continue;
      const { changes } = adopt.run(this.owner, owner);
      if (changes > 0) logger.info({ from: owner, to: this.owner, jobs: changes }, 'took over unfinished jobs of a bot process that no longer runs');
    }
  }

  private async init(url: string): Promise<void> {
    const connector = await redisConnector(url, (err) => {
      this.connected = false;
      logger.warn({ err: err.message }, 'redis connection error');
    });
    this.connector = connector;
    const connect = () => connector.connect();
    const base = { prefix: this.config.REDIS_PREFIX };
    this.client = connect();
    this.producer = new QueueEventsProducer(this.config.REDIS_QUEUE, { ...base, connection: connect() as never });
    this.lanes = new LaneSet({ baseQueue: this.config.REDIS_QUEUE, prefix: this.config.REDIS_PREFIX, connect, client: this.client, listen: (e) => this.listen(e) });
    await this.client.ping();
    // Lanes of our unfinished jobs first: their events must be live before reconcile reads them.
    await Promise.all([this.lanes.base(), this.lanes.openRegistered(), ...[...this.tracked.values()].map((r) => this.lanes!.laneFor(r))]);
    this.connected = true;
    // Events are live from here on; catch up with whatever happened while we were away.
    await this.reconcile();
    const reconcile = setInterval(() => void this.reconcile().catch((err: unknown) => logger.warn({ err }, 'reconcile failed')), this.opts.reconcileMs ?? 30_000);
    const refresh = setInterval(() => this.scheduleRefresh(), 5000);
    reconcile.unref();
    refresh.unref();
    this.timers.push(reconcile, refresh);
    await this.refresh();
    if (this.tracked.size > 0) logger.info({ count: this.tracked.size }, 'following unfinished jobs');
  }

  private listen(events: QueueEvents): void {
    const guard =
      <A>(fn: (args: A) => Promise<void> | void) =>
      (args: A) => {
        if (this.closed) return;
        const handle = () => Promise.resolve(fn(args)).catch((err: unknown) => logger.error({ err }, 'queue event handling failed'));
        const jobId = (args as { jobId?: unknown }).jobId;
        const pending = typeof jobId === 'string' ? this.announcing.get(jobId) : undefined;
        // In arrival order, once the submit has announced the job.
        if (pending) void pending.gate.then(() => (this.closed ? undefined : handle()));
        else void handle();
      };
    events.on('progress', guard(({ jobId, data }: { jobId: string; data: unknown }) => this.onProgress(jobId, data)));
    events.on('completed', guard(({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => this.onCompleted(jobId, returnvalue)));
    events.on('failed', guard(({ jobId, failedReason }: { jobId: string; failedReason: string }) => this.onFailed(jobId, failedReason)));
    events.on('waiting', guard(({ jobId }: { jobId: string }) => this.onWaiting(jobId)));
    events.on('removed', guard(({ jobId }: { jobId: string }) => this.onRemoved(jobId)));
    events.on('stalled', guard(({ jobId }: { jobId: string }) => jobLogger(jobId).warn('job stalled on its worker host; BullMQ requeues it')));
    events.on('added', guard(() => this.scheduleRefresh()));
    events.on('active', guard(() => this.scheduleRefresh()));
    events.on('error', (err) => logger.warn({ err: err.message }, 'queue events error'));
  }

  /** Brings every unfinished job of ours in line with Redis; re-adds any that Redis lost. */
  private async reconcile(): Promise<void> {
    for (const record of [...this.tracked.values()]) {
      if (this.closed) return;
      // Being submitted right now: not in Redis yet, or its events are waiting for 'queued'.
      if (this.announcing.has(record.id)) continue;
      const job = (await this.lanes!.find(record))?.job;
      if (!job) {
        if (!this.tracked.has(record.id) || this.settling.has(record.id)) continue;
        jobLogger(record.id).warn('job missing from Redis; queueing it again');
        record.state = 'queued';
        delete record.startedAt;
        this.book.save(record);
        await this.enqueue(record, 1);
        continue;
      }
      const state = await job.getState();
      if (state === 'completed') await this.onCompleted(record.id, job.returnvalue);
      else if (state === 'failed') await this.onFailed(record.id, job.failedReason);
      else if (state === 'active') await this.onProgress(record.id, job.progress);
      else if (record.state === 'running') this.onWaiting(record.id);
    }
  }

  // ---- submit -------------------------------------------------------------------------------

  private async submitNow(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }> {
    if (this.closed) throw new Error('The queue is shutting down; try again in a minute.');
    await this.readyWithin(10_000);
    if ((spec.kind === 'img2img' || spec.kind === 'upscale') && !spec.initImage) {
      throw new InputError(`A ${spec.kind} job needs an input image.`);
    }
    const model = spec.kind === 'upscale' ? spec.model : this.resolveModel(spec.model);
    const [waiting, active] = await Promise.all([this.waitingJobs(), this.lanes!.jobs(['active'])]);
    const userId = spec.requester.userId;
    const ofUser = (j: Job) => (j.data as Partial<RedisJobData>).userId === userId;
    const mine = waiting.filter(ofUser);
    assertWithinCaps(mine.length, waiting.length, this.config);
    // Rounds: a job's priority is 1 + how many jobs its user already has running or waiting,
    // so everyone's first job goes before anyone's second. Never ahead of the user's own
    // waiting jobs; equal priorities are first come, first served.
    const round = 1 + mine.length + active.filter(ofUser).length;
    const priority = Math.min(MAX_PRIORITY, mine.reduce((p, j) => Math.max(p, (j.priority || 0) + 1), round));

    const { initImage, ...rest } = spec;
    const record = newJobRecord(rest, model);
    const id = record.id;
    if (initImage) {
      try {
        record.initImagePath = await this.book.files.writeInput(id, initImage);
      } catch (err) {
        throw this.book.storageFailure('input image', err, id);
      }
    }
    this.book.must('job insert', () => this.book.store.insert(record, this.owner));
    // Before the add: the job's events may arrive before enqueue() returns.
    let open = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    this.announcing.set(id, { gate, open });
    this.tracked.set(id, record);
    try {
      await this.enqueue(record, priority, initImage);
    } catch (err) {
      this.tracked.delete(id);
      this.announcing.delete(id);
      // Never announced, so the caller's error is the only report.
      logger.error({ err, jobId: id }, 'could not add the job to redis');
      record.state = 'failed';
      record.error = QUEUE_UNAVAILABLE;
      record.finishedAt = Date.now();
      this.book.save(record);
      throw new Error(QUEUE_UNAVAILABLE, { cause: err });
    }
    jobLogger(id, { userId, kind: spec.kind, model, priority }).info('job queued');
    const positions = await this.refresh().catch(() => new Map<string, QueuePosition>());
    const position = positions.get(id) ?? { jobId: id, position: waiting.length + 1, etaMs: 0 };
    this.lastPublished.set(id, position);
    this.book.emit('queued', record, position);
    // Events that came meanwhile run after this returns, so callers can subscribe first.
    setImmediate(() => {
      this.announcing.delete(id);
      open();
    });
    return { job: record, position };
  }

  private async readyWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('redis not ready')), ms);
    });
    try {
      await Promise.race([this.ready, timeout]);
    } catch (err) {
      throw new Error(QUEUE_UNAVAILABLE, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private async enqueue(record: JobRecord, priority: number, initImage?: Uint8Array): Promise<void> {
    const image = initImage ?? (record.initImagePath ? await this.book.files.read(record.initImagePath) : undefined);
    const data: RedisJobData = {
      id: record.id,
      kind: record.kind,
      model: record.model,
      request: record.request as unknown as Record<string, unknown>,
      upscaleFactor: record.upscaleFactor,
      initImage: image ? Buffer.from(image).toString('base64') : undefined,
      userId: record.requester.userId,
      owner: this.owner,
    };
    const route = this.routeOf(record);
    const lane = await this.lanes!.open(route);
    const onLane = route !== this.config.REDIS_QUEUE;
    if (onLane) await this.lanes!.register(record.model);
    await lane.queue.add(JOB_NAME, redisJobDataSchema.parse(data), {
      jobId: record.id,
      priority,
      attempts: JOB_ATTEMPTS,
      // The bot removes a job once it has stored the result; these only sweep up results no
      // bot collected (its job was given up on) after a week.
      removeOnComplete: { age: RESULT_TTL_S },
      removeOnFail: { age: RESULT_TTL_S },
    });
    // After the add: worker hosts open the lane if it is new, and idle devices without the model
    // read when the job was queued, to know when they may take it.
    if (onLane) await this.producer!.publishEvent({ eventName: LANE_EVENT, model: record.model }, EVENTS_MAX_LEN);
  }

  /**
   * Affinity (src/queue/affinity.ts): a model that some live device has loaded waits on its own
   * lane, where those devices take it first; any other job waits on the base queue, where the
   * device idle longest takes it (BullMQ serves the longest-blocked worker first).
   */
  private routeOf(record: Pick<JobRecord, 'kind' | 'model'>): string {
    const warm = record.kind !== 'upscale' && this.devices.some((d) => d.loadedModels.includes(record.model));
    return warm ? laneName(this.config.REDIS_QUEUE, record.model) : this.config.REDIS_QUEUE;
  }

  private resolveModel(requested: string): string {
    // Worker hosts advertise their model folders; with none alive yet, any name may wait for one.
    const known = [...new Set(this.devices.flatMap((d) => d.models))].sort();
    const fallback = this.config.DEFAULT_MODEL ?? known[0];
    return resolveModelName(requested, fallback, known.length > 0 ? known : undefined, 'no worker host');
  }

  private async waitingJobs(): Promise<Job[]> {
    // Lanes other bots opened count towards the global cap as well.
    await this.lanes!.openRegistered();
    return this.lanes!.jobs(['waiting', 'prioritized', 'delayed']);
  }

  // ---- events from Redis --------------------------------------------------------------------

  private async onProgress(jobId: string, raw: unknown): Promise<void> {
    const record = this.tracked.get(jobId);
    if (!record || this.settling.has(jobId)) return;
    const parsed = redisProgressSchema.safeParse(raw);
    if (!parsed.success) return;
    const p = parsed.data;
    if (record.state !== 'running' || record.attempts !== p.attempt || record.device !== p.device) {
      const now = Date.now();
      record.state = 'running';
      record.startedAt = now;
      record.device = p.device;
      record.attempts = p.attempt;
      this.book.save(record);
      this.lastPublished.delete(jobId);
      this.book.metrics.waitSeconds.observe({ device: p.device }, (now - record.createdAt) / 1000);
      jobLogger(jobId, { device: p.device, attempt: p.attempt }).info('job started');
      this.book.emit('started', record);
      this.scheduleRefresh();
    }
    if (p.step > 0) {
      const preview = p.preview && { width: p.preview.width, height: p.preview.height, rgb: new Uint8Array(Buffer.from(p.preview.rgb, 'base64')) };
      this.book.emit('progress', record, { step: p.step, totalSteps: p.totalSteps, preview });
    }
  }

  private async onCompleted(jobId: string, raw: unknown): Promise<void> {
    const record = this.tracked.get(jobId);
    if (!record || this.settling.has(jobId)) return;
    this.settling.add(jobId);
    try {
      const parsed = redisResultSchema.safeParse(typeof raw === 'string' ? JSON.parse(raw) : raw);
      if (!parsed.success) {
        record.error = 'The worker returned a malformed result.';
        this.finish(record, 'failed');
        return;
      }
      const result = parsed.data;
      try {
        record.outputs = await this.book.files.writeOutputs(jobId, result.images.map((b) => Buffer.from(b, 'base64')));
      } catch (err) {
        if (!(this.book.storageFailure('job images', err, jobId) instanceof StorageFullError)) throw err;
        record.error = STORAGE_FULL_MESSAGE;
        this.finish(record, 'failed');
        return;
      }
      record.seeds = result.seeds;
      record.nsfw = result.nsfw;
      record.timings = result.timings;
      record.device = result.device;
      if (record.startedAt) this.book.metrics.runSeconds.observe({ device: result.device, kind: record.kind }, (Date.now() - record.startedAt) / 1000);
      this.book.tryWrite('step statistics', () => learnSpeed(record, result.device, this.book.stats, this.book.estimator));
      this.finish(record, 'done');
    } finally {
      this.settling.delete(jobId);
    }
  }

  private async onFailed(jobId: string, reason: string): Promise<void> {
    const record = this.tracked.get(jobId);
    if (!record || this.settling.has(jobId)) return;
    if (reason === CANCELLED_REASON) {
      this.finish(record, 'cancelled');
      return;
    }
    record.error = reason || 'The job failed.';
    this.finish(record, 'failed');
  }

  /** Back to waiting: a retry after a worker death, or a shutdown of its worker host. */
  private onWaiting(jobId: string): void {
    const record = this.tracked.get(jobId);
    this.scheduleRefresh();
    if (!record || record.state !== 'running') return;
    record.state = 'queued';
    delete record.startedAt;
    this.book.save(record);
    jobLogger(jobId).info('job back in the queue');
  }

  private onRemoved(jobId: string): void {
    this.scheduleRefresh();
    const record = this.tracked.get(jobId);
    // Removed from Redis while unfinished: cancelled by another bot process.
    if (record && !this.settling.has(jobId)) this.finish(record, 'cancelled', false);
  }

  // ---- bookkeeping --------------------------------------------------------------------------

  private finish(record: JobRecord, wanted: Finished, removeFromRedis = true): void {
    if (!this.tracked.has(record.id)) return;
    const state = this.book.settle(record, wanted);
    this.tracked.delete(record.id);
    this.lastPublished.delete(record.id);
    this.book.metrics.jobsTotal.inc({ outcome: state });
    announceOutcome(this.book.emit, record, state);
    for (const w of this.finishWaiters.get(record.id) ?? []) w(state);
    this.finishWaiters.delete(record.id);
    if (removeFromRedis && this.lanes) void this.lanes.find(record).then((found) => found?.lane.queue.remove(record.id)).catch(() => 0);
    this.scheduleRefresh();
  }

  /** A job of another process (or already untracked) ended through us: store it only. */
  private finishElsewhere(record: JobRecord, state: Finished): void {
    if (this.tracked.has(record.id)) {
      this.finish(record, state, false);
      return;
    }
    this.book.settle(record, state);
  }

  private onFinished(jobId: string, fn: (state: Finished) => void): void {
    const list = this.finishWaiters.get(jobId) ?? [];
    list.push(fn);
    this.finishWaiters.set(jobId, list);
  }

  // ---- positions ----------------------------------------------------------------------------

  private scheduleRefresh(): void {
    if (this.refreshTimer || this.closed) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh().catch((err: unknown) => logger.warn({ err }, 'position refresh failed'));
    }, 50);
  }

  /** Re-reads the waiting line and the devices, then publishes changed positions. */
  private refresh(): Promise<Map<string, QueuePosition>> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = this.refreshOnce().finally(() => {
      this.refreshing = undefined;
      if (this.refreshAgain) {
        this.refreshAgain = false;
        this.scheduleRefresh();
      }
    });
    return this.refreshing;
  }

  private async refreshOnce(): Promise<Map<string, QueuePosition>> {
    if (this.closed || !this.lanes || !this.client) return new Map();
    // Other bots' lanes too: their waiting jobs are ahead of ours.
    await this.lanes.openRegistered();
    const [waiting, active, beats] = await Promise.all([
      this.lanes.jobs(['waiting', 'prioritized']),
      this.lanes.jobs(['active']),
      this.client.hgetall(devicesKey(this.config.REDIS_PREFIX, this.config.REDIS_QUEUE)),
    ]);
    const now = Date.now();
    this.devices = Object.values(beats)
      .map((v) => heartbeatSchema.safeParse(JSON.parse(v)))
      .flatMap((r) => (r.success ? [r.data] : []))
      .filter((d) => now - d.at < HEARTBEAT_STALE_MS)
      .sort((a, b) => a.device.localeCompare(b.device));
    const describe = (j: Job) => {
      const d = j.data as Partial<RedisJobData>;
      return { id: String(j.id), kind: d.kind ?? 'txt2img', model: d.model ?? '', request: (d.request ?? {}) as JobRecord['request'] };
    };
    const activeById = new Map(active.map((j) => [String(j.id), j]));
    const loads = this.devices.map((d) => {
      const job = d.jobId ? activeById.get(d.jobId) : undefined;
      const busyForMs = job && d.startedAt ? this.book.estimator.runMs(describe(job), d.device) - (now - d.startedAt) : 0;
      return { device: d.device, busyForMs };
    });
    const projected = projectPositions(waiting.map(describe), loads, this.book.estimator);
    this.lastLoad = { waiting: waiting.map(describe), loads };
    this.snapshot = projected.map((p) => (p.device ? { ...p.pos, device: p.device } : p.pos));
    publishPositions(projected, {
      running: this.devices.map((d) => ({ device: d.device, busy: Boolean(d.jobId) })),
      waiting: waiting.length,
      lastPublished: this.lastPublished,
      events: this.book.emitter,
      metrics: this.book.metrics,
      skip: (jobId) => !this.tracked.has(jobId) || this.announcing.has(jobId),
    });
    // Connection errors clear this; a successful round trip sets it again (for /healthz).
    this.connected = true;
    return new Map(this.snapshot.map((p) => [p.jobId, p]));
  }
}

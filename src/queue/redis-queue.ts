// The Redis backend, bot side (QUEUE_BACKEND=redis): jobs go onto BullMQ queues that worker
// hosts (`npm run worker`) consume, one "lane" per model so hosts can prefer the models they
// have loaded (redis-lanes.ts, affinity.ts). SQLite in DATA_DIR stays the bot's record of every
// job; Redis is the transport. Fairness uses BullMQ priorities (a user's k-th waiting job
// competes with everyone else's k-th); the caps are the bot's own admission check, as BullMQ has none.
// This file is the JobQueue itself (submit, cancel, positions, start-up); where a job goes is
// redis-routing.ts, what BullMQ's events do is redis-events.ts, catching up is redis-reconcile.ts.
import { QueueEventsProducer, type Job } from 'bullmq';
import type { AppConfig } from '../config/env.js';
import { jobLogger, logger } from '../log.js';
import type { QueueMetrics } from '../metrics/queue-metrics.js';
import type { ObservableQueue } from '../metrics/server.js';
import { shardOfThisProcess, shardOwner } from '../sharding.js';
import { assertWithinCaps } from './caps.js';
import { projectPositions } from './estimates.js';
import { BookedQueue, type JobBook } from './job-book.js';
import { checkSpec, newJobRecord, publishPositions } from './job-lifecycle.js';
import type { QueueConfig } from './local-queue.js';
import { redisConnector, type RedisClient, type RedisConnector } from './redis-connection.js';
import { RedisEventHandler } from './redis-events.js';
import { RedisJobs } from './redis-jobs.js';
import { LaneSet } from './redis-lanes.js';
import { CANCEL_EVENT, EVENTS_MAX_LEN, HEARTBEAT_STALE_MS, devicesKey, heartbeatSchema, type Heartbeat, type RedisJobData } from './redis-protocol.js';
import { adoptOrphans, reconcile } from './redis-reconcile.js';
import { enqueueJob, resolveRedisModel, roundPriority } from './redis-routing.js';
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

const QUEUE_UNAVAILABLE = 'The job queue (Redis) is unavailable right now; try again in a minute.';

export class RedisJobQueue extends BookedQueue implements JobQueue, ObservableQueue {
  /** Which bot process reports a job (QUEUE_OWNER); ProviderQueue stores its Imagen jobs under it too. */
  readonly owner: string;
  private readonly jobs: RedisJobs;
  private readonly tracked: Map<string, JobRecord>;
  private readonly events: RedisEventHandler;
  private readonly ready: Promise<void>;
  private lanes?: LaneSet;
  private producer?: QueueEventsProducer;
  private client?: RedisClient;
  private connector?: RedisConnector;
  private snapshot: QueuePosition[] = [];
  private devices: Heartbeat[] = [];
  /** What the last refresh projected positions from (for localCapacity). */
  private lastLoad: { waiting: Pick<JobRecord, 'id' | 'kind' | 'model' | 'request'>[]; loads: { device: string; busyForMs: number }[] } = {
    waiting: [],
    loads: [],
  };
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
    const changed = () => this.scheduleRefresh();
    this.jobs = new RedisJobs(this.book, { lanes: () => this.lanes, changed });
    this.tracked = this.jobs.tracked;
    this.events = new RedisEventHandler(this.jobs, this.book, { closed: () => this.closed, changed });
    this.book.addLive((id) => this.tracked.get(id));
    const shard = shardOfThisProcess();
    this.owner = config.QUEUE_OWNER ?? (shard ? shardOwner(shard) : 'bot');
    adoptOrphans(this.book.db, this.owner, shard, config.QUEUE_OWNER !== undefined);
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
      this.jobs.finishElsewhere(record, 'cancelled');
      return 'cancelled';
    }
    const job = found ? await found.lane.queue.getJob(jobId) : undefined;
    const state = job ? await job.getState() : 'unknown';
    if (state === 'completed' || state === 'failed') return 'already_finished';
    if (!job) {
      this.jobs.finishElsewhere(record, 'cancelled');
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
        if (r) this.jobs.finish(r, 'cancelled');
      }, this.opts.cancelGraceMs ?? 15_000);
      timer.unref();
      this.jobs.onFinished(jobId, (state) => {
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
    this.lanes = new LaneSet({
      baseQueue: this.config.REDIS_QUEUE,
      prefix: this.config.REDIS_PREFIX,
      connect,
      client: this.client,
      listen: (e) => this.events.listen(e),
    });
    await this.client.ping();
    // Lanes of our unfinished jobs first: their events must be live before reconcile reads them.
    await Promise.all([this.lanes.base(), this.lanes.openRegistered(), ...[...this.tracked.values()].map((r) => this.lanes!.laneFor(r))]);
    this.connected = true;
    // Events are live from here on; catch up with whatever happened while we were away.
    await this.reconcile();
    const reconcile = setInterval(
      () => void this.reconcile().catch((err: unknown) => logger.warn({ err }, 'reconcile failed')),
      this.opts.reconcileMs ?? 30_000,
    );
    const refresh = setInterval(() => this.scheduleRefresh(), 5000);
    reconcile.unref();
    refresh.unref();
    this.timers.push(reconcile, refresh);
    await this.refresh();
    if (this.tracked.size > 0) logger.info({ count: this.tracked.size }, 'following unfinished jobs');
  }

  private reconcile(): Promise<void> {
    return reconcile({
      jobs: this.jobs,
      lanes: this.lanes!,
      book: this.book,
      events: this.events,
      enqueue: (record, priority) => this.enqueue(record, priority),
      closed: () => this.closed,
    });
  }

  // ---- submit -------------------------------------------------------------------------------

  private async submitNow(spec: JobSpec): Promise<{ job: JobRecord; position: QueuePosition }> {
    if (this.closed) throw new Error('The queue is shutting down; try again in a minute.');
    await this.readyWithin(10_000);
    checkSpec(spec);
    const model = spec.kind === 'upscale' ? spec.model : resolveRedisModel(this.devices, this.config.DEFAULT_MODEL, spec.model);
    const [waiting, active] = await Promise.all([this.waitingJobs(), this.lanes!.jobs(['active'])]);
    const userId = spec.requester.userId;
    const { mine, priority } = roundPriority(waiting, active, userId);
    assertWithinCaps(mine, waiting.length, this.config);

    const { initImage, maskImage, controlImage, ...rest } = spec;
    const record = newJobRecord(rest, model);
    const id = record.id;
    if (initImage) await this.book.writeInput(record, initImage, maskImage);
    if (controlImage) await this.book.writeControlImage(record, controlImage);
    this.book.must('job insert', () => this.book.store.insert(record, this.owner));
    // Before the add: the job's events may arrive before enqueue() returns.
    let open = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    this.jobs.announcing.set(id, { gate, open });
    this.tracked.set(id, record);
    try {
      await this.enqueue(record, priority, initImage);
    } catch (err) {
      this.tracked.delete(id);
      this.jobs.announcing.delete(id);
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
    this.jobs.lastPublished.set(id, position);
    this.book.emit('queued', record, position);
    // Events that came meanwhile run after this returns, so callers can subscribe first.
    setImmediate(() => {
      this.jobs.announcing.delete(id);
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

  private enqueue(record: JobRecord, priority: number, initImage?: Uint8Array): Promise<void> {
    const ctx = { lanes: this.lanes!, producer: this.producer!, book: this.book, owner: this.owner, baseQueue: this.config.REDIS_QUEUE, devices: this.devices };
    return enqueueJob(ctx, record, priority, initImage);
  }

  private async waitingJobs(): Promise<Job[]> {
    // Lanes other bots opened count towards the global cap as well.
    await this.lanes!.openRegistered();
    return this.lanes!.jobs(['waiting', 'prioritized', 'delayed']);
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
      lastPublished: this.jobs.lastPublished,
      events: this.book.emitter,
      metrics: this.book.metrics,
      skip: (jobId) => !this.tracked.has(jobId) || this.jobs.announcing.has(jobId),
    });
    // Connection errors clear this; a successful round trip sets it again (for /healthz).
    this.connected = true;
    return new Map(this.snapshot.map((p) => [p.jobId, p]));
  }
}

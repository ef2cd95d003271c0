// A worker host for QUEUE_BACKEND=redis (`npm run worker`): one device worker process per
// entry of DEVICES. Each device has a BullMQ Worker (concurrency 1) on the base queue and on the
// lane of every model it can run; it takes one job at a time, and which lanes are open when it
// is idle is the model-affinity rule of affinity.ts (BullMQ's pause/resume per Worker). Jobs,
// progress and images travel through Redis, so the host may be any machine that reaches it.
import type { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue, QueueEvents, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Registry } from 'prom-client';
import type { AppConfig } from '../config/env.js';
import { jobLogger, logger } from '../log.js';
import { createQueueMetrics, type QueueMetrics } from '../metrics/queue-metrics.js';
import type { ObservableQueue } from '../metrics/server.js';
import { workerDeathMessage } from './worker-failures.js';
import { planLanes, type AffinitySettings } from './affinity.js';
import { listModelFolders } from './model-names.js';
import { DeviceRunner, JobFailedError, WorkerDiedError, type ProgressMessage } from './device-runner.js';
import type { RunJob } from './ipc.js';
import { redisConnector, type RedisClient, type RedisConnector } from './redis-connection.js';
import {
  CANCEL_EVENT,
  CANCELLED_REASON,
  JOB_ATTEMPTS,
  LANE_EVENT,
  devicesKey,
  laneName,
  lanesKey,
  redisJobDataSchema,
  type Heartbeat,
  type RedisJobData,
  type RedisProgress,
  type RedisResult,
} from './redis-protocol.js';

export type WorkerHostConfig = Pick<
  AppConfig,
  'DEVICES' | 'MODELS_DIR' | 'NOOP_STEP_MS' | 'STALL_TIMEOUT_MS' | 'DEVICE_MEMORY_BUDGET_MB' | 'REDIS_URL' | 'REDIS_QUEUE' | 'REDIS_PREFIX' | 'WORKER_NAME'
> &
  Partial<Pick<AppConfig, 'AFFINITY_GRACE_MS' | 'AFFINITY_MAX_WAIT_MS'>>;

export interface WorkerHostOptions {
  maxLoadedModels?: number;
  cancelGraceMs?: number;
  /** How long close() lets running jobs finish before putting them back on the queue. */
  shutdownGraceMs?: number;
  metrics?: QueueMetrics;
}

/** One BullMQ Worker of a device: on the base queue (no model) or on a model's lane. */
interface Lane {
  model?: string;
  worker: Worker;
}

interface Device {
  name: string;
  /** The DEVICES entry (noop devices run any model name). */
  kind: string;
  runner: DeviceRunner;
  /** By queue name. */
  lanes: Map<string, Lane>;
  active?: { job: Job; startedAt: number; interrupted: boolean };
  /** Plans again when a closed lane's next job has waited long enough for this device. */
  graceTimer?: NodeJS.Timeout;
  /** Lane plans run one at a time. */
  planning: Promise<void>;
}

const HEARTBEAT_MS = 5000;
/** How long the age of each lane's next job is reused between plans (one read per lane). */
const HEADS_TTL_MS = 200;

export class RedisWorkerHost implements ObservableQueue {
  private readonly devices: Device[] = [];
  private readonly cancelled = new Map<string, number>();
  private readonly metrics: QueueMetrics;
  private events?: QueueEvents;
  private heartbeatClient?: RedisClient;
  private connector?: RedisConnector;
  private heartbeatTimer?: NodeJS.Timeout;
  private closing = false;
  private readonly hostName: string;
  private readonly affinity: AffinitySettings;
  /** Models bots have queued jobs for (their lanes exist); from the registry and LANE_EVENT. */
  private readonly lanesWanted = new Set<string>();
  /** Model folders in MODELS_DIR, rescanned with every heartbeat. */
  private folders: string[] = [];
  /** Read-only handles on the lanes, for the age of their next job. */
  private readonly laneQueues = new Map<string, Queue>();
  private heads?: { at: number; since: Promise<Map<string | undefined, number>> };

  private constructor(
    private readonly config: WorkerHostConfig,
    private readonly opts: WorkerHostOptions,
  ) {
    this.metrics = opts.metrics ?? createQueueMetrics({ defaultMetrics: true });
    this.hostName = config.WORKER_NAME ?? hostname();
    this.affinity = { graceMs: config.AFFINITY_GRACE_MS ?? 2000, maxWaitMs: config.AFFINITY_MAX_WAIT_MS ?? 30_000 };
  }

  /** Starts the device workers and begins taking jobs from Redis. */
  static async start(config: WorkerHostConfig, opts: WorkerHostOptions = {}): Promise<RedisWorkerHost> {
    const host = new RedisWorkerHost(config, opts);
    await host.init();
    return host;
  }

  get metricsRegistry(): Registry {
    return this.metrics.registry;
  }

  health(): ReturnType<ObservableQueue['health']> {
    const workers = this.devices.map((d) => ({
      device: d.name,
      pid: d.runner.pid,
      alive: d.runner.alive,
      busy: d.active !== undefined,
    }));
    return { ok: !this.closing && workers.some((w) => w.alive), workers };
  }

  /** Device workers (tests kill them by pid). */
  workers(): { device: string; pid: number | undefined; alive: boolean; jobId: string | undefined }[] {
    return this.devices.map((d) => ({ device: d.name, pid: d.runner.pid, alive: d.runner.alive, jobId: d.active?.job.id }));
  }

  /**
   * Stops taking jobs. Running ones get `shutdownGraceMs` to finish; the rest are stopped at
   * their next step and put back on the queue (not counted as an attempt).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.heartbeatTimer);
    for (const d of this.devices) clearTimeout(d.graceTimer);
    const grace = this.opts.shutdownGraceMs ?? 0;
    const closing = Promise.all(this.devices.flatMap((d) => [...d.lanes.values()].map((l) => l.worker.close())));
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), grace).unref());
    if ((await Promise.race([closing.then(() => 'closed' as const), timer])) === 'timeout') {
      for (const d of this.devices) {
        if (!d.active) continue;
        d.active.interrupted = true;
        d.runner.cancel(d.active.job.id!);
      }
      await closing;
    }
    await Promise.all(this.devices.map((d) => d.runner.close()));
    await Promise.allSettled([...this.laneQueues.values()].map((q) => q.close()));
    await this.events?.close();
    await this.heartbeatClient?.hdel(this.devicesKey, ...this.devices.map((d) => d.name)).catch(() => 0);
    await this.connector?.closeAll();
  }

  private get devicesKey(): string {
    return devicesKey(this.config.REDIS_PREFIX, this.config.REDIS_QUEUE);
  }

  private async init(): Promise<void> {
    const url = this.config.REDIS_URL;
    if (!url) throw new Error('REDIS_URL is required for the Redis worker host.');
    const connector = await redisConnector(url, (err) => logger.warn({ err: err.message }, 'redis connection error'));
    this.connector = connector;
    this.heartbeatClient = connector.connect();
    await this.heartbeatClient.ping();

    // Cancel requests and new lanes come as custom events on the base queue's event stream.
    this.events = new QueueEvents(this.config.REDIS_QUEUE, { connection: connector.connect() as never, prefix: this.config.REDIS_PREFIX });
    // QueueEvents is an EventEmitter; its typings list only BullMQ's own event names.
    (this.events as EventEmitter).on(CANCEL_EVENT, (args: { jobId?: string }) => {
      if (args.jobId) this.onCancel(args.jobId);
    });
    (this.events as EventEmitter).on(LANE_EVENT, (args: { model?: string }) => {
      if (args.model) void this.onLaneJob(args.model).catch((err: unknown) => logger.warn({ err }, 'could not open a lane'));
    });
    await this.events.waitUntilReady();

    const workerOptions = {
      modelsDir: resolve(this.config.MODELS_DIR),
      noopStepMs: this.config.NOOP_STEP_MS,
      maxLoadedModels: this.opts.maxLoadedModels ?? 2,
      memoryBudgetMb: this.config.DEVICE_MEMORY_BUDGET_MB,
    };
    this.folders = listModelFolders(workerOptions.modelsDir);
    for (const kind of this.config.DEVICES) {
      const name = `${this.hostName}/${kind}`;
      const runner = new DeviceRunner(
        kind,
        { ...workerOptions, device: kind },
        {
          stallTimeoutMs: this.config.STALL_TIMEOUT_MS,
          cancelGraceMs: this.opts.cancelGraceMs ?? 10_000,
          onDeath: () => this.metrics.workerRestarts.inc({ device: name }),
        },
      );
      runner.start();
      const device: Device = { name, kind, runner, lanes: new Map(), planning: Promise.resolve() };
      this.addLane(device, this.config.REDIS_QUEUE, undefined);
      this.devices.push(device);
    }
    // After the event subscription, so a lane registered meanwhile comes as an event.
    await this.addLanes(await this.heartbeatClient.smembers(this.lanesKey));
    await Promise.all(this.devices.flatMap((d) => [...d.lanes.values()].map((l) => l.worker.waitUntilReady())));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    // The first heartbeat also makes the first lane plans, which start the Workers.
    await this.heartbeat();
    logger.info({ devices: this.devices.map((d) => d.name), queue: this.config.REDIS_QUEUE, affinity: this.affinity }, 'worker host ready');
  }

  private get lanesKey(): string {
    return lanesKey(this.config.REDIS_PREFIX, this.config.REDIS_QUEUE);
  }

  /** A closed Worker for `device` on `queueName`; its device's lane plan opens it. */
  private addLane(device: Device, queueName: string, model: string | undefined): void {
    const lane = { model } as Lane;
    lane.worker = new Worker(queueName, (job, token) => this.process(device, lane, job, token), {
      connection: this.connector!.connect() as never,
      prefix: this.config.REDIS_PREFIX,
      concurrency: 1,
      name: device.name,
      autorun: false,
      // The generation runs in the child process, so this process renews locks on time.
      lockDuration: 30_000,
      stalledInterval: 15_000,
      maxStalledCount: 1,
      // An idle worker re-polls this often (s). BullMQ wakes it for new jobs, but not for one
      // put back by another host's shutdown or another lane's take (moveToWait adds no marker).
      drainDelay: 1,
    });
    lane.worker.on('error', (err) => logger.warn({ device: device.name, queue: queueName, err: err.message }, 'bullmq worker error'));
    device.lanes.set(queueName, lane);
  }

  /** Can `device` run `model`: noop devices run any name, real ones the folders in MODELS_DIR. */
  private canRun(device: Device, model: string): boolean {
    return device.kind.startsWith('noop') || this.folders.includes(model);
  }

  /** Opens lane Workers for `models` on every device that can run them. */
  private async addLanes(models: string[]): Promise<void> {
    if (this.closing) return;
    for (const m of models) this.lanesWanted.add(m);
    for (const device of this.devices) {
      let added = false;
      for (const model of this.lanesWanted) {
        const name = laneName(this.config.REDIS_QUEUE, model);
        if (device.lanes.has(name) || !this.canRun(device, model)) continue;
        this.addLane(device, name, model);
        added = true;
      }
      if (added && !device.active) await this.replan(device);
    }
  }

  /** A job was queued on `model`'s lane: open the lane if new, and let idle devices time their take. */
  private async onLaneJob(model: string): Promise<void> {
    await this.addLanes([model]);
    await this.replanIdle();
  }

  /** Plans idle devices again with fresh lane heads (a new job, or the heartbeat's catch-up). */
  private async replanIdle(): Promise<void> {
    this.heads = undefined;
    await Promise.all(this.devices.filter((d) => !d.active).map((d) => this.replan(d)));
  }

  private async heartbeat(device?: Device): Promise<void> {
    const client = this.heartbeatClient;
    if (!client || this.closing) return;
    const models = listModelFolders(resolve(this.config.MODELS_DIR));
    for (const d of device ? [device] : this.devices) {
      const beat: Heartbeat = {
        device: d.name,
        at: Date.now(),
        jobId: d.active?.job.id,
        startedAt: d.active?.startedAt,
        loadedModels: d.runner.loadedModels,
        models,
        pid: d.runner.pid,
      };
      await client.hset(this.devicesKey, d.name, JSON.stringify(beat)).catch(() => 0);
    }
    if (device) return;
    // Folders added since, and lanes the events may have missed (a reconnect).
    this.folders = models;
    const registered = await client.smembers(this.lanesKey).catch(() => [] as string[]);
    await this.addLanes(registered).catch((err: unknown) => logger.warn({ err }, 'could not open a lane'));
    await this.replanIdle();
  }

  // ---- affinity -----------------------------------------------------------------------------

  /** Decides, for an idle device, which lanes it takes jobs from now and which after the grace. */
  private replan(device: Device): Promise<void> {
    const next = device.planning.then(() => this.replanNow(device)).catch((err: unknown) => logger.warn({ device: device.name, err }, 'lane plan failed'));
    device.planning = next;
    return next;
  }

  private async replanNow(device: Device): Promise<void> {
    if (this.closing || device.active) return;
    clearTimeout(device.graceTimer);
    const models = [...device.lanes.values()].flatMap((l) => (l.model === undefined ? [] : [l.model]));
    const since = await this.headsSince().catch(() => new Map<string | undefined, number>());
    if (this.closing || device.active) return;
    const headSince = new Map([...since].flatMap(([m, t]) => (m === undefined ? [] : [[m, t] as const])));
    const plan = planLanes({ lanes: models, loaded: device.runner.loadedModels, headSince, baseSince: since.get(undefined), now: Date.now() }, this.affinity);
    const open = new Set(plan.open);
    const lanes = [...device.lanes.values()];
    // Close first, then open, so two lanes of one device are rarely open to the same burst.
    await Promise.all(lanes.filter((l) => l.model !== undefined && !open.has(l.model)).map((l) => l.worker.pause(true)));
    for (const l of lanes) if (l.model === undefined || open.has(l.model)) this.openLane(l);
    if (plan.recheckAt === undefined) return;
    device.graceTimer = setTimeout(() => void this.replan(device), Math.max(20, plan.recheckAt - Date.now()));
    device.graceTimer.unref();
  }

  /** Lets a lane's Worker fetch jobs (again). */
  private openLane(lane: Lane): void {
    const worker = lane.worker;
    if (worker.isRunning() && !worker.isPaused()) return;
    void worker.resume().then(() =>
      // resume() landing just as a paused main loop winds down starts nothing: start it then.
      setImmediate(() => {
        if (!this.closing && !worker.isPaused() && !worker.isRunning()) void worker.run().catch((err: unknown) => logger.warn({ err }, 'lane worker failed'));
      }),
    );
  }

  /**
   * When the next waiting job of the base queue (key undefined) and of each lane was queued
   * (lanes with none waiting left out). Shared by the host's devices for HEADS_TTL_MS.
   */
  private headsSince(): Promise<Map<string | undefined, number>> {
    const now = Date.now();
    if (this.heads && now - this.heads.at < HEADS_TTL_MS) return this.heads.since;
    const since = (async () => {
      const out = new Map<string | undefined, number>();
      await Promise.all(
        [undefined, ...this.lanesWanted].map(async (model) => {
          const jobs = await this.laneQueue(model).getJobs(['prioritized', 'wait'], 0, 0, true);
          if (jobs.length > 0) out.set(model, Math.min(...jobs.map((j) => j.timestamp)));
        }),
      );
      return out;
    })();
    this.heads = { at: now, since };
    return since;
  }

  /** A handle for reading the base queue (model undefined) or a lane. */
  private laneQueue(model: string | undefined): Queue {
    const name = model === undefined ? this.config.REDIS_QUEUE : laneName(this.config.REDIS_QUEUE, model);
    let queue = this.laneQueues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.heartbeatClient as never, prefix: this.config.REDIS_PREFIX });
      this.laneQueues.set(name, queue);
    }
    return queue;
  }

  private onCancel(jobId: string): void {
    const device = this.devices.find((d) => d.active?.job.id === jobId);
    if (device) device.runner.cancel(jobId);
    // Also remember it: the cancel may arrive before the run reaches the device.
    this.cancelled.set(jobId, Date.now());
    for (const [id, at] of this.cancelled) if (Date.now() - at > 600_000) this.cancelled.delete(id);
  }

  /**
   * Another lane of the device took a job at the same moment, or this lane was closed while it
   * fetched: the job goes back, first among its priority and not counted as an attempt.
   */
  private async giveBack(lane: Lane, job: Job, token: string | undefined): Promise<never> {
    // Paused first, so BullMQ does not fetch this lane's next job in its place.
    await lane.worker.pause(true);
    if (token) await job.moveToWait(token);
    throw new WaitingError();
  }

  private async process(device: Device, lane: Lane, job: Job, token: string | undefined): Promise<RedisResult> {
    // Synchronously, before any await: one job per device.
    if (device.active || lane.worker.isPaused()) return this.giveBack(lane, job, token);
    const started = Date.now();
    device.active = { job, startedAt: started, interrupted: false };
    clearTimeout(device.graceTimer);
    for (const other of device.lanes.values()) if (other !== lane) void other.worker.pause(true);
    let dir: string | undefined;
    try {
      const parsed = redisJobDataSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`Malformed job data: ${parsed.error.issues[0]?.message}`);
      const data = parsed.data;
      const log = jobLogger(data.id, { device: device.name });
      if (this.cancelled.has(data.id)) throw new UnrecoverableError(CANCELLED_REASON);
      const attempt = job.attemptsMade + 1;
      const totalSteps = Number(data.request.steps) || 0;
      dir = await mkdtemp(join(tmpdir(), 'imagine-job-'));
      // Before the first progress event: the bot reads device and pid from the heartbeat.
      await this.heartbeat(device);
      return await this.run(device, job, token, data, { dir, log, attempt, totalSteps, started });
    } finally {
      device.active = undefined;
      void this.heartbeat(device);
      if (dir) await rm(dir, { recursive: true, force: true });
      // Before BullMQ completes the job: a lane this plan closes must not fetch the next one.
      await this.replan(device);
    }
  }

  private async run(
    device: Device,
    job: Job,
    token: string | undefined,
    data: RedisJobData,
    ctx: { dir: string; log: ReturnType<typeof jobLogger>; attempt: number; totalSteps: number; started: number },
  ): Promise<RedisResult> {
    const { dir, log, attempt, totalSteps, started } = ctx;
    try {
      let initImagePath: string | undefined;
      if (data.initImage) {
        initImagePath = join(dir, 'input');
        await writeFile(initImagePath, Buffer.from(data.initImage, 'base64'));
      }
      let maskImagePath: string | undefined;
      if (data.maskImage) {
        maskImagePath = join(dir, 'mask');
        await writeFile(maskImagePath, Buffer.from(data.maskImage, 'base64'));
      }
      let controlImagePath: string | undefined;
      if (data.controlImage) {
        controlImagePath = join(dir, 'control');
        await writeFile(controlImagePath, Buffer.from(data.controlImage, 'base64'));
      }
      const runJob: RunJob = {
        id: data.id,
        kind: data.kind,
        model: data.model,
        request: data.request,
        initImagePath,
        maskImagePath,
        controlImagePath,
        upscaleFactor: data.upscaleFactor,
        outputDir: join(dir, 'out'),
      };
      await job.updateProgress({ device: device.name, attempt, step: 0, totalSteps } satisfies RedisProgress);
      log.info({ attempt }, 'job started');
      // Progress updates go out in order; a slow Redis must not reorder steps.
      let updates = Promise.resolve();
      const onProgress = (p: ProgressMessage) => {
        if (this.cancelled.has(data.id)) device.runner.cancel(data.id);
        const payload: RedisProgress = { device: device.name, attempt, step: p.step, totalSteps: p.totalSteps };
        if (p.preview) {
          const { width, height, rgb } = p.preview;
          payload.preview = { width, height, rgb: Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength).toString('base64') };
        }
        updates = updates.then(() => job.updateProgress(payload)).catch((err: unknown) => log.warn({ err }, 'progress update failed'));
      };
      if (this.cancelled.has(data.id)) throw new UnrecoverableError(CANCELLED_REASON);
      const done = await device.runner.run(runJob, onProgress);
      await updates;
      const images = await Promise.all(done.outputs.map((p) => readFile(p)));
      this.metrics.runSeconds.observe({ device: device.name, kind: data.kind }, (Date.now() - started) / 1000);
      this.metrics.jobsTotal.inc({ outcome: 'done' });
      log.info({ timings: done.timings }, 'job done');
      return { device: device.name, images: images.map((b) => b.toString('base64')), seeds: done.seeds, nsfw: done.nsfw, timings: done.timings };
    } catch (err) {
      if (device.active?.interrupted && token) {
        // Shutting down: back to the queue, first among its priority; not an attempt.
        await job.moveToWait(token);
        log.info('job interrupted by shutdown; back on the queue');
        throw new WaitingError();
      }
      if (err instanceof JobFailedError) {
        const cancelled = err.aborted || err.cancelRequested;
        this.metrics.jobsTotal.inc({ outcome: cancelled ? 'cancelled' : 'failed' });
        throw new UnrecoverableError(cancelled ? CANCELLED_REASON : err.message);
      }
      if (err instanceof WorkerDiedError) {
        const final = attempt >= JOB_ATTEMPTS;
        log.warn({ attempt, final }, `worker ${err.why}`);
        if (final) this.metrics.jobsTotal.inc({ outcome: 'failed' });
        throw new Error(workerDeathMessage(err.why, final));
      }
      throw err;
    }
  }
}

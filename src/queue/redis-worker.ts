// A worker host for QUEUE_BACKEND=redis (`npm run worker`): one device worker process per
// entry of DEVICES, each behind a BullMQ Worker with concurrency 1 on the shared queue. Jobs,
// progress and images travel through Redis, so the host may be any machine that reaches it.
import type { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { QueueEvents, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Registry } from 'prom-client';
import type { AppConfig } from '../config/env.js';
import { jobLogger, logger } from '../log.js';
import { createQueueMetrics, type QueueMetrics } from '../metrics/queue-metrics.js';
import type { ObservableQueue } from '../metrics/server.js';
import { workerDeathMessage } from './admission.js';
import { listModelFolders } from './model-names.js';
import { DeviceRunner, JobFailedError, WorkerDiedError, type ProgressMessage } from './device-runner.js';
import type { RunJob } from './ipc.js';
import { redisConnector, type RedisClient, type RedisConnector } from './redis-connection.js';
import {
  CANCEL_EVENT,
  CANCELLED_REASON,
  JOB_ATTEMPTS,
  devicesKey,
  redisJobDataSchema,
  type Heartbeat,
  type RedisProgress,
  type RedisResult,
} from './redis-protocol.js';

export type WorkerHostConfig = Pick<
  AppConfig,
  | 'DEVICES'
  | 'MODELS_DIR'
  | 'NOOP_STEP_MS'
  | 'STALL_TIMEOUT_MS'
  | 'DEVICE_MEMORY_BUDGET_MB'
  | 'REDIS_URL'
  | 'REDIS_QUEUE'
  | 'REDIS_PREFIX'
  | 'WORKER_NAME'
>;

export interface WorkerHostOptions {
  maxLoadedModels?: number;
  cancelGraceMs?: number;
  /** How long close() lets running jobs finish before putting them back on the queue. */
  shutdownGraceMs?: number;
  metrics?: QueueMetrics;
}

interface Device {
  name: string;
  runner: DeviceRunner;
  worker: Worker;
  active?: { job: Job; startedAt: number; interrupted: boolean };
}

const HEARTBEAT_MS = 5000;

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

  private constructor(
    private readonly config: WorkerHostConfig,
    private readonly opts: WorkerHostOptions,
  ) {
    this.metrics = opts.metrics ?? createQueueMetrics({ defaultMetrics: true });
    this.hostName = config.WORKER_NAME ?? hostname();
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
    const grace = this.opts.shutdownGraceMs ?? 0;
    const closing = Promise.all(this.devices.map((d) => d.worker.close()));
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
    const connect = () => connector.connect();
    this.heartbeatClient = connect();
    await this.heartbeatClient.ping();

    // Cancel requests come as custom events on the queue's event stream.
    this.events = new QueueEvents(this.config.REDIS_QUEUE, { connection: connect() as never, prefix: this.config.REDIS_PREFIX });
    // QueueEvents is an EventEmitter; its typings list only BullMQ's own event names.
    (this.events as EventEmitter).on(CANCEL_EVENT, (args: { jobId?: string }) => {
      if (args.jobId) this.onCancel(args.jobId);
    });
    await this.events.waitUntilReady();

    const workerOptions = {
      modelsDir: resolve(this.config.MODELS_DIR),
      noopStepMs: this.config.NOOP_STEP_MS,
      maxLoadedModels: this.opts.maxLoadedModels ?? 2,
      memoryBudgetMb: this.config.DEVICE_MEMORY_BUDGET_MB,
    };
    for (const device of this.config.DEVICES) {
      const name = `${this.hostName}/${device}`;
      const runner = new DeviceRunner(
        device,
        { ...workerOptions, device },
        {
          stallTimeoutMs: this.config.STALL_TIMEOUT_MS,
          cancelGraceMs: this.opts.cancelGraceMs ?? 10_000,
          onDeath: () => this.metrics.workerRestarts.inc({ device: name }),
        },
      );
      runner.start();
      const entry = { name, runner } as Device;
      entry.worker = new Worker(this.config.REDIS_QUEUE, (job, token) => this.process(entry, job, token), {
        connection: connect() as never,
        prefix: this.config.REDIS_PREFIX,
        concurrency: 1,
        name,
        // The generation runs in the child process, so this process renews locks on time.
        lockDuration: 30_000,
        stalledInterval: 15_000,
        maxStalledCount: 1,
        // An idle worker re-polls this often (s). BullMQ wakes it for new jobs, but not for one
        // put back by another host's shutdown (moveToWait adds no marker).
        drainDelay: 1,
      });
      entry.worker.on('error', (err) => logger.warn({ device: name, err: err.message }, 'bullmq worker error'));
      this.devices.push(entry);
    }
    await Promise.all(this.devices.map((d) => d.worker.waitUntilReady()));
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    await this.heartbeat();
    logger.info({ devices: this.devices.map((d) => d.name), queue: this.config.REDIS_QUEUE }, 'worker host ready');
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
  }

  private onCancel(jobId: string): void {
    const device = this.devices.find((d) => d.active?.job.id === jobId);
    if (device) device.runner.cancel(jobId);
    // Also remember it: the cancel may arrive before the run reaches the device.
    this.cancelled.set(jobId, Date.now());
    for (const [id, at] of this.cancelled) if (Date.now() - at > 600_000) this.cancelled.delete(id);
  }

  private async process(device: Device, job: Job, token: string | undefined): Promise<RedisResult> {
    const parsed = redisJobDataSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Malformed job data: ${parsed.error.issues[0]?.message}`);
    const data = parsed.data;
    const log = jobLogger(data.id, { device: device.name });
    if (this.cancelled.has(data.id)) throw new UnrecoverableError(CANCELLED_REASON);
    const attempt = job.attemptsMade + 1;
    const totalSteps = Number(data.request.steps) || 0;
    const dir = await mkdtemp(join(tmpdir(), 'imagine-job-'));
    const started = Date.now();
    device.active = { job, startedAt: started, interrupted: false };
    // Before the first progress event: the bot reads device and pid from the heartbeat.
    await this.heartbeat(device);
    try {
      let initImagePath: string | undefined;
      if (data.initImage) {
        initImagePath = join(dir, 'input');
        await writeFile(initImagePath, Buffer.from(data.initImage, 'base64'));
      }
      const runJob: RunJob = {
        id: data.id,
        kind: data.kind,
        model: data.model,
        request: data.request,
        initImagePath,
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
      return { device: device.name, images: images.map((b) => b.toString('base64')), seeds: done.seeds, timings: done.timings };
    } catch (err) {
      if (device.active?.interrupted && token) {
        // Shutting down: back to the queue, first among its priority; not an attempt.
        await job.moveToWait(token);
        log.info('job interrupted by shutdown; back on the queue');
        throw new WaitingError();
      }
      if (err instanceof JobFailedError) {
        this.metrics.jobsTotal.inc({ outcome: err.aborted ? 'cancelled' : 'failed' });
        throw new UnrecoverableError(err.aborted ? CANCELLED_REASON : err.message);
      }
      if (err instanceof WorkerDiedError) {
        const final = attempt >= JOB_ATTEMPTS;
        log.warn({ attempt, final }, `worker ${err.why}`);
        if (final) this.metrics.jobsTotal.inc({ outcome: 'failed' });
        throw new Error(workerDeathMessage(err.why, final));
      }
      throw err;
    } finally {
      device.active = undefined;
      void this.heartbeat(device);
      await rm(dir, { recursive: true, force: true });
    }
  }
}

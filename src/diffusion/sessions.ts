// ONNX Runtime sessions: execution-provider choice per device, speed-oriented options, and
// typed access to each session's declared inputs so the pipeline adapts instead of assuming.
import * as ort from 'onnxruntime-node';
import { ModelError } from './errors.js';
import { logger } from '../log.js';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gpuOptionsFromEnv, type GpuOptions } from '../config/gpu.js';
import { countTransfers, executionProviders, ignoredCudaOptions, type Device } from './execution-providers.js';
import { DeviceResidentFeeds, webgpuUploader } from './device-feeds.js';

export type { Device } from './execution-providers.js';

/** `cpu`, `cuda`, `cuda:N` or `webgpu`. */
export function parseDevice(spec: string): Device {
  const s = spec.trim().toLowerCase();
  if (s === 'cpu' || /^cpu:\d+$/.test(s)) return { kind: 'cpu' };
  if (s === 'webgpu') return { kind: 'webgpu' };
  const m = /^cuda(?::(\d+))?$/.exec(s);
  if (m) return { kind: 'cuda', id: m[1] ? Number(m[1]) : 0 };
  throw new ModelError(`Unknown device "${spec}": use cpu, cuda, cuda:N (for example cuda:1) or webgpu.`);
}

export function deviceLabel(d: Device): string {
  return d.kind === 'cuda' ? `cuda:${d.id}` : d.kind;
}

let gpuCache: GpuOptions | undefined;
let webgpuUnavailable = false;
let warnedIgnored = false;

/** ORT_CUDA_* / ORT_WEBGPU_* from the environment (config/gpu.ts), read once. */
function gpuOptions(): GpuOptions {
  if (gpuCache) return gpuCache;
  try {
    gpuCache = gpuOptionsFromEnv(process.env);
  } catch (err) {
    throw new ModelError(String(err instanceof Error ? err.message : err).replace(/\n\s*/g, ' '));
  }
  return gpuCache;
}

let warnedNoCuda = false;
let cudaCache: boolean | undefined;

/**
 * The CUDA provider library is only present after
 * `npm run install:cuda`; without it a CUDA session fails late and noisily.
 */
function cudaInstalled(): boolean {
  if (cudaCache !== undefined) return cudaCache;
  const binDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin');
  const napi = existsSync(binDir) ? readdirSync(binDir).filter((d) => d.startsWith('napi-')) : [];
  cudaCache = napi.some((d) => existsSync(join(binDir, d, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')));
  return cudaCache;
}

/** What a session was actually created on: the CUDA request may have fallen back to CPU. */
export interface LoadedSession {
  session: ort.InferenceSession;
  path: string;
  device: Device;
  inputs: Map<string, ort.InferenceSession.TensorValueMetadata>;
  outputs: Map<string, ort.InferenceSession.TensorValueMetadata>;
}

function baseOptions(): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3,
  };
}

/** How a session is kept. */
export interface SessionKeepOptions {
  /**
   * Release the native session (and its memory) as soon as the caller stops using it, and
   * re-create it on the next run: for parts used once per job (text encoder, VAE) when memory
   * is tight. "Stops using" = no run is in flight once the event loop turns, so back-to-back
   * runs in one job (conditional + unconditional prompt, one VAE call per image) share a load.
   */
  releaseWhenIdle?: boolean;
}

/** Native sessions currently alive and ever created through createSession (tests, benchmarks). */
export const sessionCounters = { live: 0, created: 0 };

/**
 * A model already in memory (a LoRA merge, lora/merge.ts): the model.onnx bytes and the
 * external-data files it names, which ONNX Runtime's Node binding takes as buffers.
 */
export interface InMemoryModel {
  bytes: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
  label: string;
}

export type ModelSource = string | InMemoryModel;

async function createNative(source: ModelSource, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  const session =
    typeof source === 'string'
      ? await ort.InferenceSession.create(source, options)
      : await ort.InferenceSession.create(source.bytes, { ...options, externalData: source.externalData });
  sessionCounters.live++;
  sessionCounters.created++;
  return session;
}

async function releaseNative(session: ort.InferenceSession): Promise<void> {
  sessionCounters.live--;
  await session.release();
}

/**
 * `source` is a file path, or a model in memory; an in-memory model is never released when idle
 * (it could not be re-created without keeping its bytes).
 */
export async function createSession(source: ModelSource, device: Device, part: string, keep: SessionKeepOptions = {}): Promise<LoadedSession> {
  const path = typeof source === 'string' ? source : source.label;
  let effective = device;
  if (device.kind === 'cuda' && !cudaInstalled()) {
    if (!warnedNoCuda) {
      logger.warn({ device: deviceLabel(device) }, 'CUDA execution provider is not installed; running on CPU. Install it with npm run install:cuda');
      warnedNoCuda = true;
    }
    effective = { kind: 'cpu' };
  }
  if (device.kind === 'webgpu' && webgpuUnavailable) effective = { kind: 'cpu' };
  const options = baseOptions();
  const gpu = gpuOptions();
  if (effective.kind === 'cuda' && !warnedIgnored && ignoredCudaOptions(gpu).length > 0) {
    logger.warn(
      { options: ignoredCudaOptions(gpu) },
      'onnxruntime-node forwards only the device id to the CUDA provider; these ORT_CUDA_* settings have no effect with it',
    );
    warnedIgnored = true;
  }
  options.executionProviders = executionProviders(effective, gpu);
  let session: ort.InferenceSession;
  try {
    session = await createNative(source, options);
  } catch (err) {
    if (effective.kind !== 'cpu') {
      // No adapter now means none for the next part either: spare every later session the attempt.
      if (effective.kind === 'webgpu') webgpuUnavailable = true;
      logger.warn({ err: firstLine(err), part, device: deviceLabel(effective) }, 'GPU session failed to start; falling back to CPU');
      effective = { kind: 'cpu' };
      options.executionProviders = ['cpu'];
      session = await createNative(source, options).catch((e: unknown) => {
        throw new ModelError(`Cannot load ${part} (${path}): ${firstLine(e)}. Re-export or re-download the model.`);
      });
    } else {
      throw new ModelError(`Cannot load ${part} (${path}): ${firstLine(err)}. Re-export or re-download the model.`);
    }
  }
  const meta = { inputs: tensorMeta(session.inputMetadata), outputs: tensorMeta(session.outputMetadata) };
  if (keep.releaseWhenIdle && typeof source === 'string') session = new IdleReleasingSession(session, path, part, options, effective);
  else session = new CountedSession(session, effective, part);
  if (effective.kind === 'webgpu' && part === 'unet' && !(session instanceof IdleReleasingSession)) {
    (session as CountedSession).residentFeeds = new DeviceResidentFeeds(webgpuUploader(options.executionProviders));
  }
  return { session, path, device: effective, ...meta };
}

/** A session whose release() keeps sessionCounters right. */
class CountedSession implements ort.InferenceSession {
  private released = false;
  /** WebGPU UNets: the step-constant feeds, kept on the device (device-feeds.ts). */
  residentFeeds?: DeviceResidentFeeds;
  constructor(
    protected readonly inner: ort.InferenceSession,
    private readonly device: Device = { kind: 'cpu' },
    private readonly part = 'session',
  ) {}

  run(feeds: ort.InferenceSession.FeedsType, options?: ort.InferenceSession.RunOptions): Promise<ort.InferenceSession.ReturnType>;
  run(
    feeds: ort.InferenceSession.FeedsType,
    fetches: ort.InferenceSession.FetchesType,
    options?: ort.InferenceSession.RunOptions,
  ): Promise<ort.InferenceSession.ReturnType>;
  async run(feeds: ort.InferenceSession.FeedsType, a?: unknown, b?: unknown): Promise<ort.InferenceSession.ReturnType> {
    const fed = await this.deviceFeeds(feeds);
    const out = await this.inner.run(fed, a as ort.InferenceSession.FetchesType, b as ort.InferenceSession.RunOptions);
    countTransfers(this.device, this.part, fed, out);
    return out;
  }

  private async deviceFeeds(feeds: ort.InferenceSession.FeedsType): Promise<ort.InferenceSession.FeedsType> {
    const resident = this.residentFeeds;
    if (!resident) return feeds;
    try {
      const { feeds: fed, uploaded } = await resident.map(feeds);
      countTransfers(this.device, this.part, uploaded, {});
      return fed;
    } catch (err) {
      // Untried hardware or a binding without device tensors: copy every step as before.
      logger.warn({ err: firstLine(err), part: this.part }, 'cannot keep the prompt embeddings on the GPU; copying them every step');
      this.residentFeeds = undefined;
      resident.dispose();
      return feeds;
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.residentFeeds?.dispose();
    await releaseNative(this.inner);
  }

  startProfiling(): void {
    this.inner.startProfiling();
  }
  endProfiling(): void {
    this.inner.endProfiling();
  }
  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }
  get inputMetadata(): readonly ort.InferenceSession.ValueMetadata[] {
    return this.inner.inputMetadata;
  }
  get outputMetadata(): readonly ort.InferenceSession.ValueMetadata[] {
    return this.inner.outputMetadata;
  }
}

/**
 * Looks like one session to the pipeline; underneath, the native session is released once idle
 * and re-created (same file, options and device) by the next run. Metadata is kept from the
 * first load, so signature checks never trigger a load. release() only unloads: a later run
 * loads again, which is what "released between jobs" means.
 */
export class IdleReleasingSession implements ort.InferenceSession {
  private current?: ort.InferenceSession;
  private loading?: Promise<ort.InferenceSession>;
  private inFlight = 0;
  private idleTimer?: NodeJS.Immediate;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];

  constructor(
    first: ort.InferenceSession,
    private readonly path: string,
    private readonly part: string,
    private readonly options: ort.InferenceSession.SessionOptions,
    private readonly device: Device = { kind: 'cpu' },
  ) {
    this.current = first;
    this.inputNames = first.inputNames;
    this.outputNames = first.outputNames;
    this.inputMetadata = first.inputMetadata;
    this.outputMetadata = first.outputMetadata;
    this.scheduleRelease();
  }

  /** Whether the native session is loaded right now. */
  get loaded(): boolean {
    return this.current !== undefined;
  }

  run(feeds: ort.InferenceSession.FeedsType, options?: ort.InferenceSession.RunOptions): Promise<ort.InferenceSession.ReturnType>;
  run(
    feeds: ort.InferenceSession.FeedsType,
    fetches: ort.InferenceSession.FetchesType,
    options?: ort.InferenceSession.RunOptions,
  ): Promise<ort.InferenceSession.ReturnType>;
  async run(feeds: ort.InferenceSession.FeedsType, a?: unknown, b?: unknown): Promise<ort.InferenceSession.ReturnType> {
    this.inFlight++;
    try {
      const s = await this.acquire();
      const out = await s.run(feeds, a as ort.InferenceSession.FetchesType, b as ort.InferenceSession.RunOptions);
      countTransfers(this.device, this.part, feeds, out);
      return out;
    } finally {
      this.inFlight--;
      this.scheduleRelease();
    }
  }

  private async acquire(): Promise<ort.InferenceSession> {
    if (this.current) return this.current;
    this.loading ??= createNative(this.path, this.options)
      .then((s) => {
        this.current = s;
        return s;
      })
      .catch((e: unknown) => {
        throw new ModelError(`Cannot reload ${this.part} (${this.path}): ${firstLine(e)}. Re-export or re-download the model.`);
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /** Unloads after the current chain of runs: one event-loop turn with nothing in flight. */
  private scheduleRelease(): void {
    if (this.idleTimer) clearImmediate(this.idleTimer);
    this.idleTimer = setImmediate(() => {
      this.idleTimer = undefined;
      if (this.inFlight === 0 && !this.loading) void this.release();
    });
  }

  async release(): Promise<void> {
    const s = this.current;
    this.current = undefined;
    if (s) await releaseNative(s);
  }

  startProfiling(): void {
    this.current?.startProfiling();
  }
  endProfiling(): void {
    this.current?.endProfiling();
  }
}

function tensorMeta(list: readonly ort.InferenceSession.ValueMetadata[]) {
  const map = new Map<string, ort.InferenceSession.TensorValueMetadata>();
  for (const m of list) if (m.isTensor) map.set(m.name, m);
  return map;
}

export function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 300);
}

/** The declared input, or a ModelError that says which graph doesn't match what we need. */
export function requireInput(s: LoadedSession, part: string, names: string[]): ort.InferenceSession.TensorValueMetadata {
  for (const n of names) {
    const m = s.inputs.get(n);
    if (m) return m;
  }
  throw new ModelError(
    `${part} graph has inputs [${[...s.inputs.keys()].join(', ')}] but needs "${names[0]}". ` +
      'The model is not a diffusers/optimum ONNX export of Stable Diffusion; re-export it with optimum-cli export onnx.',
  );
}

export function requireOutput(s: LoadedSession, part: string, names: string[]): string {
  for (const n of names) if (s.outputs.has(n)) return n;
  const first = [...s.outputs.keys()][0];
  if (first && names.length === 0) return first;
  throw new ModelError(
    `${part} graph has outputs [${[...s.outputs.keys()].join(', ')}] but needs one of [${names.join(', ')}]. ` +
      'Re-export the model with optimum-cli export onnx.',
  );
}

// ONNX Runtime sessions: execution-provider choice per device, speed-oriented options, and
// typed access to each session's declared inputs so the pipeline adapts instead of assuming.
import * as ort from 'onnxruntime-node';
import { ModelError } from './errors.js';
import { logger } from '../log.js';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type Device = { kind: 'cpu' } | { kind: 'cuda'; id: number };

/** `cpu`, `cuda` or `cuda:N`. */
export function parseDevice(spec: string): Device {
  const s = spec.trim().toLowerCase();
  if (s === 'cpu' || /^cpu:\d+$/.test(s)) return { kind: 'cpu' };
  const m = /^cuda(?::(\d+))?$/.exec(s);
  if (m) return { kind: 'cuda', id: m[1] ? Number(m[1]) : 0 };
  throw new ModelError(`Unknown device "${spec}": use cpu, cuda or cuda:N (for example cuda:1).`);
}

export function deviceLabel(d: Device): string {
  return d.kind === 'cpu' ? 'cpu' : `cuda:${d.id}`;
}

let warnedNoCuda = false;
let cudaCache: boolean | undefined;

/**
 * The CUDA provider library is only present when onnxruntime-node was installed with
 * ONNXRUNTIME_NODE_INSTALL=cuda12; without it a CUDA session fails late and noisily.
 */
function cudaInstalled(): boolean {
  if (cudaCache !== undefined) return cudaCache;
  const binDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin');
  const napi = existsSync(binDir) ? readdirSync(binDir).filter((d) => d.startsWith('napi-')) : [];
  cudaCache = napi.some((d) =>
    existsSync(join(binDir, d, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')),
  );
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

export async function createSession(path: string, device: Device, part: string): Promise<LoadedSession> {
  let effective = device;
  if (device.kind === 'cuda' && !cudaInstalled()) {
    if (!warnedNoCuda) {
      logger.warn(
        { device: deviceLabel(device) },
        'CUDA execution provider is not installed; running on CPU. Install it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci',
      );
      warnedNoCuda = true;
    }
    effective = { kind: 'cpu' };
  }
  const options = baseOptions();
  options.executionProviders =
    effective.kind === 'cuda' ? [{ name: 'cuda', deviceId: effective.id }, 'cpu'] : ['cpu'];
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, options);
  } catch (err) {
    if (effective.kind === 'cuda') {
      logger.warn({ err: String(err), part }, 'CUDA session failed to start; falling back to CPU');
      effective = { kind: 'cpu' };
      options.executionProviders = ['cpu'];
      session = await ort.InferenceSession.create(path, options).catch((e: unknown) => {
        throw new ModelError(`Cannot load ${part} (${path}): ${firstLine(e)}. Re-export or re-download the model.`);
      });
    } else {
      throw new ModelError(`Cannot load ${part} (${path}): ${firstLine(err)}. Re-export or re-download the model.`);
    }
  }
  return {
    session,
    path,
    device: effective,
    inputs: tensorMeta(session.inputMetadata),
    outputs: tensorMeta(session.outputMetadata),
  };
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

// What ONNX Runtime is asked for on each device, and how many tensors cross between host and
// device per run. onnxruntime-node 1.30 (js/node/src/session_options_helper.cc) forwards only
// `deviceId` to the CUDA provider, and can hold device-resident tensors (IO binding,
// `preferredOutputLocation: 'gpu-buffer'`) for WebGPU only; README "GPUs" has the details.
import type * as ort from 'onnxruntime-node';
import type { CudaOptions, GpuOptions } from '../config/gpu.js';

export type Device = { kind: 'cpu' } | { kind: 'cuda'; id: number } | { kind: 'webgpu' };

export const NO_GPU_OPTIONS: GpuOptions = { cuda: {}, webgpu: {} };

/** The CUDA options onnxruntime-node passes on today (the others wait for a binding that forwards them). */
export const FORWARDED_CUDA_OPTIONS: readonly (keyof CudaOptions)[] = [];

/** The execution-provider list for `device`, CPU last so that unsupported nodes still run. */
export function executionProviders(device: Device, gpu: GpuOptions = NO_GPU_OPTIONS): ort.InferenceSession.ExecutionProviderConfig[] {
  switch (device.kind) {
    case 'cpu':
      return ['cpu'];
    case 'cuda': {
      // ORT's own option names, for a binding that reads them; 1.30's reads deviceId only.
      const c = gpu.cuda;
      const entry: Record<string, unknown> = { name: 'cuda', deviceId: device.id };
      if (c.arenaExtendStrategy) entry.arenaExtendStrategy = c.arenaExtendStrategy === 'same_as_requested' ? 1 : 0;
      if (c.gpuMemLimit) entry.gpuMemLimit = c.gpuMemLimit;
      if (c.cudnnConvAlgoSearch) entry.cudnnConvAlgoSearch = c.cudnnConvAlgoSearch.toUpperCase();
      if (c.enableCudaGraph !== undefined) entry.enableCudaGraph = c.enableCudaGraph;
      return [entry as unknown as ort.InferenceSession.ExecutionProviderConfig, 'cpu'];
    }
    case 'webgpu':
      // The binding rejects options it does not know (deviceId included): only the layout goes in.
      return [{ name: 'webgpu', ...(gpu.webgpu.preferredLayout ? { preferredLayout: gpu.webgpu.preferredLayout } : {}) }, 'cpu'];
  }
}

/** CUDA settings the operator set that the installed binding will not apply (logged once at load). */
export function ignoredCudaOptions(gpu: GpuOptions): (keyof CudaOptions)[] {
  return (Object.keys(gpu.cuda) as (keyof CudaOptions)[]).filter((k) => !FORWARDED_CUDA_OPTIONS.includes(k));
}

export interface TransferCount {
  hostToDevice: number;
  deviceToHost: number;
  hostToDeviceBytes: number;
  deviceToHostBytes: number;
}

/** Host↔device tensor copies made by session runs, per model part (benchmarks print them per step). */
export const transferCounters = new Map<string, TransferCount>();

/** The copies counted for `part` so far (zeros when none). */
export function transfersOf(part: string): TransferCount {
  return { ...(transferCounters.get(part) ?? { hostToDevice: 0, deviceToHost: 0, hostToDeviceBytes: 0, deviceToHostBytes: 0 }) };
}

const onHost = (v: ort.OnnxValue) => {
  const location = (v as ort.Tensor).location;
  return location === undefined || location === 'cpu' || location === 'cpu-pinned';
};
const bytes = (v: ort.OnnxValue) => {
  const data = (v as ort.Tensor).location === 'cpu' ? (v as ort.Tensor).data : undefined;
  return data && typeof data === 'object' && 'byteLength' in data ? data.byteLength : 0;
};

/**
 * Counts the copies one run of `part` on `device` makes: every host-resident feed is copied
 * to the device and every host-resident output back (none on CPU). Copies ONNX Runtime makes
 * inside a graph, for nodes it places on the CPU provider, are not visible here.
 */
export function countTransfers(device: Device, part: string, feeds: Record<string, ort.OnnxValue>, outputs: Record<string, ort.OnnxValue>): void {
  if (device.kind === 'cpu') return;
  const c = transfersOf(part);
  for (const v of Object.values(feeds)) {
    if (!onHost(v)) continue;
    c.hostToDevice++;
    c.hostToDeviceBytes += bytes(v);
  }
  for (const v of Object.values(outputs)) {
    if (!onHost(v)) continue;
    c.deviceToHost++;
    c.deviceToHostBytes += bytes(v);
  }
  transferCounters.set(part, c);
}

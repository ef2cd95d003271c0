// Execution-provider settings for GPU devices, from the environment (README "GPUs"): the CUDA
// provider options that matter for diffusion and the WebGPU provider's layout. Parsed with zod
// like every other key; workers see them because worker-env.ts passes ORT_* through.
import { z } from 'zod';

const lowerOrUnset = (v: unknown) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim().toLowerCase()) : v);

export const gpuEnvSchema = z.object({
  /** How the CUDA memory arena grows: ORT's default doubles (next_power_of_two); same_as_requested wastes less VRAM. */
  ORT_CUDA_ARENA_EXTEND_STRATEGY: z.preprocess(
    lowerOrUnset,
    z.enum(['next_power_of_two', 'same_as_requested'], { error: 'must be next_power_of_two or same_as_requested' }).optional(),
  ),
  /** Cap on the CUDA arena in MiB (0 or unset: no cap). */
  ORT_CUDA_MEM_LIMIT_MB: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.coerce.number().int('must be a whole number of MiB').min(0, 'must be at least 0').optional(),
  ),
  /** cuDNN convolution algorithm search: exhaustive (ORT's default, slow first run), heuristic, or default. */
  ORT_CUDNN_CONV_ALGO_SEARCH: z.preprocess(
    lowerOrUnset,
    z.enum(['exhaustive', 'heuristic', 'default'], { error: 'must be exhaustive, heuristic or default' }).optional(),
  ),
  /** Capture the UNet in a CUDA graph (static shapes only: one size and batch per model load, e.g. SD-Turbo serving 512²). */
  ORT_CUDA_GRAPH: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.stringbool({ error: 'must be 1 or 0 (true/false, yes/no, on/off)' }).optional(),
  ),
  /** WebGPU tensor layout the provider computes convolutions in (ORT's default NHWC). */
  ORT_WEBGPU_LAYOUT: z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim().toUpperCase()) : v),
    z.enum(['NCHW', 'NHWC'], { error: 'must be NCHW or NHWC' }).optional(),
  ),
});

export interface CudaOptions {
  arenaExtendStrategy?: 'next_power_of_two' | 'same_as_requested';
  /** Bytes. */
  gpuMemLimit?: number;
  cudnnConvAlgoSearch?: 'exhaustive' | 'heuristic' | 'default';
  enableCudaGraph?: boolean;
}

export interface GpuOptions {
  cuda: CudaOptions;
  webgpu: { preferredLayout?: 'NCHW' | 'NHWC' };
}

/** The GPU settings in `env`, or an Error naming every bad key (as parseEnv does). */
export function gpuOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): GpuOptions {
  const parsed = gpuEnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const cuda: CudaOptions = {};
  if (e.ORT_CUDA_ARENA_EXTEND_STRATEGY) cuda.arenaExtendStrategy = e.ORT_CUDA_ARENA_EXTEND_STRATEGY;
  if (e.ORT_CUDA_MEM_LIMIT_MB) cuda.gpuMemLimit = e.ORT_CUDA_MEM_LIMIT_MB * 2 ** 20;
  if (e.ORT_CUDNN_CONV_ALGO_SEARCH) cuda.cudnnConvAlgoSearch = e.ORT_CUDNN_CONV_ALGO_SEARCH;
  if (e.ORT_CUDA_GRAPH !== undefined) cuda.enableCudaGraph = e.ORT_CUDA_GRAPH;
  return { cuda, webgpu: e.ORT_WEBGPU_LAYOUT ? { preferredLayout: e.ORT_WEBGPU_LAYOUT } : {} };
}

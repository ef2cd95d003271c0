// What a device worker may see of the parent's environment. Workers decode untrusted images, so
// they get an allowlist, not a copy: the bot's DISCORD_TOKEN, GOOGLE_API_KEY and whatever else
// the operator's shell holds stay in the parent.
import { baseEnvSchema } from '../config/env.js';

/** The process basics, Node's own switches, and what the engine's settings read (env.ts). */
const NAMES = new Set([
  'PATH',
  'HOME',
  'TMPDIR',
  'TMP',
  'TEMP',
  'LANG',
  'LANGUAGE',
  'TZ',
  'NODE_OPTIONS',
  'NODE_ENV',
  'NODE_PATH',
  'NODE_TEST_CONTEXT',
  'LD_LIBRARY_PATH',
  'UV_THREADPOOL_SIZE',
  ...Object.keys(baseEnvSchema.shape),
]);

/** Native libraries' knobs: ONNX Runtime, CUDA and its drivers, OpenMP/MKL threads, libvips (sharp), locale. */
const PREFIXES = ['ORT_', 'CUDA_', 'CUDNN_', 'NVIDIA_', 'OMP_', 'MKL_', 'VIPS_', 'SHARP_', 'LC_', 'TSX_'];

/** The part of `env` a worker process is started with. */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (NAMES.has(name) || PREFIXES.some((p) => name.startsWith(p))) out[name] = value;
  }
  return out;
}

// Redis for tests: a throwaway redis-server on a free port, and worker hosts (`npm run worker`)
// in separate processes. Both report why they cannot run so tests skip with a clear message.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import type { ManagedJobQueue } from '../../src/queue/index.js';
import { makeQueue } from './helpers.js';
import { isolated, entryArgs } from '../support/child-process.js';

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisSkipReason(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) return 'redis-server is not installed (apt-get install redis-server); Redis backend tests skipped';
  try {
    import.meta.resolve('ioredis');
  } catch {
    return 'the ioredis package is not installed (npm install ioredis); Redis backend tests skipped';
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  stop(): Promise<void>;
}

/** Starts an in-memory redis-server (no persistence) on a free port. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => reject(new Error('redis-server did not start within 10 s')), 10_000);
    lines.on('line', (l) => {
      if (!l.includes('Ready to accept connections')) return;
      clearTimeout(timer);
      resolve();
    });
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code})`)));
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopProcess(proc) };
}

export interface WorkerHostProcess {
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs `src/queue/worker-cli.ts` (what `npm run worker` runs) and waits for its ready line. It
 * starts in an empty temp folder with only `env` (MODELS_DIR, DATA_DIR, …): never the checkout's.
 */
export async function startWorkerHost(env: Record<string, string>): Promise<WorkerHostProcess> {
  const proc = spawn(process.execPath, entryArgs('src/queue/worker-cli.ts'), {
    ...isolated({ LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => reject(new Error('the worker host did not get ready within 20 s')), 20_000);
    lines.on('line', (l) => {
      if (!l.includes('"ready":true')) return;
      clearTimeout(timer);
      resolve();
    });
    proc.once('exit', (code) => reject(new Error(`the worker host exited early (${code})`)));
  });
  return { proc, stop: (signal = 'SIGTERM') => stopProcess(proc, signal) };
}

function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill(signal);
  });
}

/** Runs `fn` with a fresh redis-server, stopped afterwards. */
export async function withRedis(fn: (redis: RedisServer) => Promise<void>): Promise<void> {
  const redis = await startRedis();
  try {
    await fn(redis);
  } finally {
    await redis.stop();
  }
}

/** A bot-side queue on the Redis backend (fresh DATA_DIR unless given), once connected. */
export async function redisQueue(url: string, env: Record<string, string> = {}): Promise<ManagedJobQueue> {
  const q = makeQueue({ QUEUE_BACKEND: 'redis', REDIS_URL: url, ...env });
  await q.whenReady();
  return q;
}

// Shared set-up for queue tests: a fresh DATA_DIR per queue, specs, and event waits.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEnv } from '../../src/config/env.js';
import { createJobQueue, type ManagedJobQueue, type QueueOptions } from '../../src/queue/index.js';
import type { JobRecord, JobSpec, QueueEvents } from '../../src/queue/types.js';

process.env.NODE_ENV ??= 'test';

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tempDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'queue-test-'));
  dirs.push(d);
  return d;
}

export function makeQueue(env: Record<string, string>, opts: QueueOptions = {}): ManagedJobQueue {
  return createJobQueue(loadEnv({ DATA_DIR: tempDataDir(), ...env }), opts);
}

export function spec(userId: string, overrides: Partial<JobSpec['request']> = {}, model = 'tiny'): JobSpec {
  return {
    kind: 'txt2img',
    model,
    request: { prompt: 'a red cube', seed: 1, steps: 2, guidanceScale: 7.5, width: 64, height: 64, count: 1, ...overrides },
    requester: { userId, username: `name-${userId}`, guildId: 'g', channelId: 'c' },
  };
}

/** Resolves with the first event whose arguments pass `test`. */
export function waitForEvent<E extends keyof QueueEvents>(
  queue: ManagedJobQueue,
  event: E,
  test: (...args: Parameters<QueueEvents[E]>) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<Parameters<QueueEvents[E]>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      queue.off(event, handler);
      reject(new Error(`timed out waiting for '${event}'`));
    }, timeoutMs);
    const handler = ((...args: Parameters<QueueEvents[E]>) => {
      if (!test(...args)) return;
      clearTimeout(timer);
      queue.off(event, handler);
      resolve(args);
    }) as QueueEvents[E];
    queue.on(event, handler);
  });
}

/** Resolves once every listed job has finished (done, failed or cancelled). */
export function waitForFinished(queue: ManagedJobQueue, ids: string[], timeoutMs = 30_000): Promise<Map<string, JobRecord>> {
  const pending = new Set(ids);
  const finished = new Map<string, JobRecord>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out; unfinished: ${[...pending].join(', ')}`)), timeoutMs);
    const check = (job: JobRecord) => {
      if (!pending.delete(job.id)) return;
      finished.set(job.id, job);
      if (pending.size === 0) {
        clearTimeout(timer);
        resolve(finished);
      }
    };
    queue.on('done', check);
    queue.on('failed', check);
    queue.on('cancelled', check);
    for (const id of ids) {
      const j = queue.get(id);
      if (j && (j.state === 'done' || j.state === 'failed' || j.state === 'cancelled')) check(j);
    }
  });
}

export async function waitUntil(cond: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

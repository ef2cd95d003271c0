// A device worker: a child process that owns one device and runs one job at a time. It talks
// to the parent over IPC only; if the parent goes away, it exits (no orphans holding a GPU).
import { performance } from 'node:perf_hooks';
import PQueue from 'p-queue';
import { logger } from '../log.js';
import { isUserFacingError } from '../diffusion/errors.js';
import { isStorageError, STORAGE_FULL_MESSAGE } from '../store/storage-errors.js';
import { DiffusionEngine, NoopEngine, type Engine } from './engines.js';
import { describeIssues, fromWorkerSchema, toWorkerSchema, workerOptionsSchema, type FromWorker, type RunJob } from './ipc.js';

const options = workerOptionsSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const engine: Engine = options.device.startsWith('noop') ? new NoopEngine(options) : new DiffusionEngine(options);
const log = logger.child({ device: options.device });
const lane = new PQueue({ concurrency: 1 });
const running = new Map<string, AbortController>();

function send(msg: FromWorker): void {
  // Validate our own output too: a schema drift shows up here, not as a silent parent drop.
  process.send?.(fromWorkerSchema.parse(msg));
}

function messageOf(err: unknown): string {
  if (isUserFacingError(err)) return err.message;
  // Writing the images failed for lack of space: say so, without the file's path.
  if (isStorageError(err)) return STORAGE_FULL_MESSAGE;
  const text = err instanceof Error ? err.message : String(err);
  return `Generation failed: ${text.split('\n')[0]}`;
}

/**
 * Step previews are computed only when read (src/diffusion/preview.ts): send one with the first
 * step and then at most every PREVIEW_EVERY_MS, well inside the bot's edit interval (2 s by
 * default), instead of computing and posting one for every step.
 */
const PREVIEW_EVERY_MS = 500;

async function run(job: RunJob): Promise<void> {
  const controller = new AbortController();
  let lastPreview = Number.NEGATIVE_INFINITY;
  running.set(job.id, controller);
  try {
    const result = await engine.run(job, {
      signal: controller.signal,
      onProgress: (p) => {
        const now = performance.now();
        const withPreview = now - lastPreview >= PREVIEW_EVERY_MS;
        if (withPreview) lastPreview = now;
        send({ type: 'progress', jobId: job.id, step: p.step, totalSteps: p.totalSteps, preview: withPreview ? p.preview : undefined });
      },
    });
    send({ type: 'done', jobId: job.id, ...result, loadedModels: engine.loadedModels() });
  } catch (err) {
    if (!controller.signal.aborted) log.warn({ jobId: job.id, err }, 'job failed');
    send({ type: 'failed', jobId: job.id, message: messageOf(err), aborted: controller.signal.aborted, loadedModels: engine.loadedModels() });
  } finally {
    running.delete(job.id);
  }
}

process.on('message', (raw) => {
  const parsed = toWorkerSchema.safeParse(raw);
  if (!parsed.success) {
    log.error({ issues: parsed.error.issues }, 'ignored a malformed message from the parent');
    // A job it cannot run still gets an answer, so it fails with the reason instead of stalling.
    const job = (raw as { type?: unknown; job?: { id?: unknown } } | null)?.job;
    if ((raw as { type?: unknown } | null)?.type === 'run' && typeof job?.id === 'string') {
      send({ type: 'failed', jobId: job.id, message: describeIssues(parsed.error), aborted: false, loadedModels: engine.loadedModels() });
    }
    return;
  }
  const msg = parsed.data;
  if (msg.type === 'run') void lane.add(() => run(msg.job));
  else if (msg.type === 'cancel') running.get(msg.jobId)?.abort();
  else process.exit(0);
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', loadedModels: [] });

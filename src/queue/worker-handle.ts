// The parent's side of one device worker: forks it, validates what it says, and reports its
// death. Restart policy lives in the queue; this only knows about one process at a time.
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { logger } from '../log.js';
import { fromWorkerSchema, type FromWorker, type RunJob, type WorkerOptions } from './ipc.js';
import { workerEnv } from './worker-env.js';

/** Running from sources (tests, `tsx`) the child needs tsx too; a built dist/ does not. */
function workerEntry(): { path: string; execArgv: string[] } {
  const ts = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
  const js = fileURLToPath(new URL('./worker-process.js', import.meta.url));
  if (import.meta.url.endsWith('.ts') || !existsSync(js)) {
    return { path: ts, execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  return { path: js, execArgv: [] };
}

export interface WorkerHandleEvents {
  message: [FromWorker];
  exit: [{ code: number | null; signal: NodeJS.Signals | null }];
}

export class WorkerHandle extends EventEmitter<WorkerHandleEvents> {
  private child?: ChildProcess;
  private alive = false;

  constructor(readonly options: WorkerOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.alive ? this.child?.pid : undefined;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  start(): void {
    const entry = workerEntry();
    const child = fork(entry.path, [JSON.stringify(this.options)], {
      execArgv: entry.execArgv,
      // An allowlist: no DISCORD_TOKEN or GOOGLE_API_KEY in a process that decodes untrusted images.
      env: workerEnv(),
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    this.alive = true;
    child.on('message', (raw) => {
      const parsed = fromWorkerSchema.safeParse(raw);
      if (parsed.success) this.emit('message', parsed.data);
      else logger.error({ device: this.options.device, issues: parsed.error.issues }, 'ignored a malformed worker message');
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.alive = false;
      this.emit('exit', { code, signal });
    });
    child.on('error', (err) => logger.error({ device: this.options.device, err }, 'worker process error'));
  }

  run(job: RunJob): void {
    this.child?.send({ type: 'run', job });
  }

  cancel(jobId: string): void {
    if (this.alive) this.child?.send({ type: 'cancel', jobId });
  }

  /** Kills the process now; resolves once it has exited. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

// Runs the real `npm run api` process (src/api/main.ts) against an isolated DATA_DIR and a
// MODELS_DIR holding the shared tiny model, and `npm run keys` against the same DATA_DIR.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isolated, entryArgs } from '../support/child-process.js';
import { tinyModel } from '../support/tiny-models.js';

/** A JSON answer: tests assert on its fields directly. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies of many shapes, checked field by field
export type Json = any;

export interface ApiProcess {
  url: string;
  port: number;
  dataDir: string;
  modelsDir: string;
  child: ChildProcess;
  /** Everything the process wrote, for failure messages and log assertions. */
  output(): string;
  stop(): Promise<void>;
}

/** A MODELS_DIR with the tiny model linked in as `tiny`. */
export async function modelsDirWithTiny(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'api-models-'));
  symlinkSync(await tinyModel(), join(dir, 'tiny'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'api-data-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts the API on a free port and resolves once it listens (or rejects with its output). */
export async function startApi(env: Record<string, string> = {}, opts: { dataDir?: string; modelsDir?: string } = {}): Promise<ApiProcess> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const modelsDir = opts.modelsDir ?? (await modelsDirWithTiny());
  const child = spawn(process.execPath, entryArgs('src/api/main.ts'), {
    ...isolated({ DATA_DIR: dataDir, MODELS_DIR: modelsDir, API_PORT: '0', DEVICES: 'cpu', LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the API did not start in 60 s:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+),"auth":[^}]*"msg":"HTTP API listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the API exited with ${code} before listening:\n${out}`));
    });
  });
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    modelsDir,
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `npm run keys -- …` against DATA_DIR. */
export function keysCli(dataDir: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, entryArgs('src/api/keys-cli.ts', ...args), { encoding: 'utf8', ...isolated({ DATA_DIR: dataDir }), timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A new key's plain text. */
export function createKey(dataDir: string, name: string, ...flags: string[]): string {
  const r = keysCli(dataDir, 'create', name, ...flags);
  if (r.status !== 0) throw new Error(`keys create failed: ${r.stderr}`);
  return r.stdout.trim();
}

export async function postJson(
  url: string,
  body: unknown,
  key?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

export async function getJson(url: string, key?: string): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

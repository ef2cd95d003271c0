// How tests start the project's entry points as child processes, isolated from the checkout:
// the working directory is a temp folder (so the checkout's .env, models/ and data/ are out of
// reach: every relative default points into that empty folder) and the environment holds only
// what a process needs plus what the test passes, never the developer's shell settings.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledIfFresh } from '../../scripts/dist-fresh.mjs';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

let cwd: string | undefined;
/** An empty temp folder, the working directory of every child process this test file starts. */
export function isolatedCwd(): string {
  if (!cwd) {
    const dir = mkdtempSync(join(tmpdir(), 'child-cwd-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    cwd = dir;
  }
  return cwd;
}

/**
 * node's arguments to run an entry point (a .ts path relative to the repository root) as
 * `npm start` does (scripts/launch.mjs): its compiled dist/ copy when that is fresh (the test
 * runner builds it first), otherwise the TypeScript through tsx (test fixtures, a stale dist/).
 */
export function entryArgs(script: string, ...args: string[]): string[] {
  const compiled = compiledIfFresh(repoRoot, script);
  return compiled ? [compiled, ...args] : ['--import', import.meta.resolve('tsx'), resolve(repoRoot, script), ...args];
}

/** Variables a child may inherit: what node, tsx and the temp-folder lookup need, nothing else. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'TINY_MODELS_CACHE'] as const;

/** The child's whole environment: the inherited basics, NODE_ENV=test, then `env`. */
export function childEnv(env: Record<string, string> = {}): Record<string, string> {
  // tsx looks for tsconfig.json in the working directory; point it at the project's.
  const base: Record<string, string> = { NODE_ENV: 'test', TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.json') };
  for (const key of INHERITED) {
    const value = process.env[key];
    if (value !== undefined) base[key] = value;
  }
  return { ...base, ...env };
}

/** Spawn options for an isolated child: temp cwd and `childEnv(env)`. */
export function isolated(env: Record<string, string> = {}): { cwd: string; env: Record<string, string> } {
  return { cwd: isolatedCwd(), env: childEnv(env) };
}

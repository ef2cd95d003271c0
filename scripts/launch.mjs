#!/usr/bin/env node
// Starts an entry point (`node scripts/launch.mjs src/cli/imagine.ts args…`, what the npm
// scripts run): its compiled dist/ copy when `npm run build` (or `npm ci`'s prepare) made one
// that is newer than every source file, otherwise the TypeScript itself through tsx, as before
// there was a build. The check reads the sources' modification times (a few milliseconds);
// plain JavaScript skips tsx's start-up and transpilation (most of a cold start's second).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry?.endsWith('.ts')) {
  console.error('usage: node scripts/launch.mjs <entry.ts> [args…]');
  process.exit(2);
}
const source = resolve(root, entry);
const compiled = join(root, 'dist', relative(root, source)).replace(/\.ts$/, '.js');

/** Modification time of the build stamp, or 0 when there is no complete build. */
function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** True when some file under `dir` changed after `since`. */
function changedSince(dir, since) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory() ? changedSince(path, since) : mtime(path) > since) return true;
  }
  return false;
}

const built = mtime(join(root, 'dist', '.build-stamp'));
const fresh =
  built > 0 &&
  mtime(compiled) > 0 &&
  !changedSince(join(root, 'src'), built) &&
  !changedSince(join(root, 'commands'), built) &&
  mtime(join(root, 'tsconfig.json')) <= built;

// The entry point reads its arguments from process.argv as if it had been started directly.
process.argv = [process.argv[0], fresh ? compiled : source, ...args];
if (fresh) {
  await import(pathToFileURL(compiled).href);
} else {
  if (built > 0) console.error('note: dist/ is older than the sources; running them through tsx (npm run build refreshes it)');
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
  await import(pathToFileURL(source).href);
}

#!/usr/bin/env node
// Starts an entry point (`node scripts/launch.mjs src/cli/imagine.ts args…`, what the npm
// scripts run): its compiled dist/ copy when `npm run build` (or `npm ci`'s prepare) made one
// that is newer than every source file, otherwise the TypeScript itself through tsx, as before
// there was a build. The check reads the sources' modification times (a few milliseconds);
// plain JavaScript skips tsx's start-up and transpilation (most of a cold start's second).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compiledIfFresh, distExists } from './dist-fresh.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry?.endsWith('.ts')) {
  console.error('usage: node scripts/launch.mjs <entry.ts> [args…]');
  process.exit(2);
}
const source = resolve(root, entry);
const compiled = compiledIfFresh(root, source);

// The entry point reads its arguments from process.argv as if it had been started directly.
process.argv = [process.argv[0], compiled ?? source, ...args];
if (compiled) {
  await import(pathToFileURL(compiled).href);
} else {
  if (distExists(root)) console.error('note: dist/ is older than the sources; running them through tsx (npm run build refreshes it)');
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
  await import(pathToFileURL(source).href);
}

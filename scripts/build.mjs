#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` / `npm install` build it): compiles src/, commands/
// and the benchmark's plain script to dist/ with tsc, so `npm start`, `npm run imagine`, the
// workers and the shards start as plain JavaScript instead of transpiling TypeScript at every
// start (scripts/launch.mjs runs dist/ when it is up to date). The stamp written last is what
// launch.mjs compares with the sources' modification times.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const stamp = join(dist, '.build-stamp');
const prepare = process.argv.includes('--prepare');

let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  // An install without dev dependencies has no compiler: the launcher runs the sources instead.
  if (prepare) process.exit(0);
  console.error('typescript is not installed: run npm install (with dev dependencies) first');
  process.exit(1);
}

rmSync(stamp, { force: true });
// A clean build, so files deleted from src/ do not linger in dist/.
if (!prepare || !existsSync(join(dist, '.tsbuildinfo'))) rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
mkdirSync(dist, { recursive: true });
// Files the code reads beside itself (the API's status-page.html): tsc copies only what it compiles.
function copyAssets(rel) {
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const path = join(rel, e.name);
    if (e.isDirectory()) copyAssets(path);
    else if (!/\.(ts|md)$/.test(e.name)) cpSync(join(root, path), join(dist, path));
  }
}
copyAssets('src');
copyAssets('commands');
writeFileSync(stamp, `${new Date().toISOString()}\n`);

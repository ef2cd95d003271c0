#!/usr/bin/env node
// `npm test`: runs every test/**/*.test.ts with node's own test runner (Node 20 has no glob
// support in --test), several files at a time, each in its own process.
//
//   node scripts/run-tests.mjs [--quick] [--concurrency N] [filter …]
//
// filter: substrings of file paths (test/bot/buttons). --quick: unit tests only, i.e. the
// files that start no bot, worker host, Redis or CLI process (QUICK_EXCLUDE below).
// TEST_CONCURRENCY sets the default concurrency (3: files mostly wait on timers, sockets and
// child processes, so three share two cores well).
//
// Every file runs isolated from the checkout: its working directory is an empty temp folder
// (the checkout's .env, models/ and data/ are out of reach) and its environment holds only
// what node needs plus the test knobs below, never the developer's settings. Tiny models are
// made once per run in a shared temp folder (TINY_MODELS_CACHE, test/support/tiny-models.ts).
// At most --heavy (TEST_HEAVY_CONCURRENCY; default concurrency − 1) files that run bot processes
// run at once. The slowest files start first (times of the last run, kept in node_modules/.cache), and
// each file's output is printed in one piece when it finishes. Entry points the tests start run
// compiled, as `npm start` runs them (test/support/child-process.ts entryArgs), so a stale dist/
// is rebuilt first (`npm run build`, about 10 s; TEST_NO_BUILD=1 skips it and they run through tsx).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from './dist-fresh.mjs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const timesFile = join(repoRoot, 'node_modules', '.cache', 'imagine-bot-test-times.json');

/** Files that start processes (bot, worker hosts, redis-server, the CLIs) or run long end-to-end flows. */
const QUICK_EXCLUDE = [
  /-e2e\.test\.ts$/,
  /\/redis[^/]*\.test\.ts$/,
  /bot-process|startup|imagine-cli|durable|crash|stand-in-sharding|hub\.test|upscaler|isolation|load-env/,
];

/** Files that run bot processes against the stand-in: at most `heavy` of them at once, so timing checks (acks within 3 s) keep their margin. */
const HEAVY = [/-e2e\.test\.ts$/, /bot-process|redis-sharding|isolation/];

/** Variables a test file inherits; everything else (MODELS_DIR, LOW_MEMORY, tokens, …) stays out. */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'TERM', 'LANG', 'LC_ALL', 'TZ', 'CI', 'FORCE_COLOR', 'NO_COLOR', 'NODE_OPTIONS'];
const INHERITED_PREFIXES = ['BOT_E2E_', 'TEST_'];

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name === 'support' || name === 'fixtures') continue;
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(relative(repoRoot, p));
  }
  return out;
}

function parseArgs(argv) {
  const opts = { quick: false, concurrency: Number(process.env.TEST_CONCURRENCY) || 3, heavy: Number(process.env.TEST_HEAVY_CONCURRENCY) || 0, filters: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--concurrency' || a === '-j') opts.concurrency = Number(argv[++i]);
    else if (a.startsWith('--concurrency=')) opts.concurrency = Number(a.slice('--concurrency='.length));
    else if (a.startsWith('--heavy=')) opts.heavy = Number(a.slice('--heavy='.length));
    else opts.filters.push(a);
  }
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
    console.error('run-tests: --concurrency must be a whole number ≥ 1');
    process.exit(2);
  }
  // Default: one slot always left for the light files.
  if (!(opts.heavy >= 1)) opts.heavy = Math.max(1, opts.concurrency - 1);
  return opts;
}

function readTimes() {
  try {
    return JSON.parse(readFileSync(timesFile, 'utf8'));
  } catch {
    return {};
  }
}

function isolatedEnv(extra) {
  const env = { NODE_ENV: 'test', ...extra };
  for (const [key, value] of Object.entries(process.env)) {
    if (INHERITED.includes(key) || INHERITED_PREFIXES.some((p) => key.startsWith(p))) env[key] = value;
  }
  return env;
}

/** The counts the spec reporter prints last (ℹ tests 12 …). */
function summaryOf(output) {
  const count = (name) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
  return { tests: count('tests'), pass: count('pass'), fail: count('fail'), skipped: count('skipped'), todo: count('todo'), cancelled: count('cancelled') };
}

const children = new Set();

function runFile(file, env) {
  const cwd = mkdtempSync(join(tmpdir(), 'test-cwd-'));
  // Its own TMPDIR too, removed with it: whatever the file (or a process it starts) leaves in
  // os.tmpdir() does not pile up in /tmp.
  const tmp = mkdtempSync(join(tmpdir(), 'test-tmp-'));
  const started = performance.now();
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--test', '--test-reporter=spec', join(repoRoot, file)], {
      cwd,
      env: { ...env, TMPDIR: tmp, TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('close', (code, signal) => {
      children.delete(child);
      rmSync(cwd, { recursive: true, force: true });
      rmSync(tmp, { recursive: true, force: true });
      resolveRun({ file, code: code ?? signal, output, ms: performance.now() - started });
    });
  });
}

const opts = parseArgs(process.argv.slice(2));
let files = collect(join(repoRoot, 'test')).filter((f) => opts.filters.length === 0 || opts.filters.some((x) => f.includes(x)));
if (opts.quick) files = files.filter((f) => !QUICK_EXCLUDE.some((re) => re.test(f)));
if (files.length === 0) {
  console.error(`run-tests: no test file matches ${opts.filters.join(' ')}`);
  process.exit(1);
}
if (!process.env.TEST_NO_BUILD && !distIsFresh(repoRoot)) {
  console.log('run-tests: dist/ is missing or older than the sources; building it (npm run build)');
  const build = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('run-tests: the build failed (see above); fix it, or run with TEST_NO_BUILD=1 to test the sources through tsx');
    process.exit(1);
  }
}
const times = readTimes();
/** Before a first full run: files that start processes or run real pipelines are the slow ones. */
const guess = (f) => (QUICK_EXCLUDE.some((re) => re.test(f)) || /sdxl|inpaint|img2img|tiny-model/.test(f) ? 30_000 : 5_000);
// Longest first, so the slow end-to-end files do not start last and hold up the end.
const queue = [...files].sort((a, b) => (times[b] ?? guess(b)) - (times[a] ?? guess(a)));

const cache = mkdtempSync(join(tmpdir(), 'tiny-models-run-'));
const env = isolatedEnv({ TINY_MODELS_CACHE: cache });
process.on('exit', () => rmSync(cache, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
    process.exit(130);
  });
}

const started = performance.now();
const results = [];
let heavyRunning = 0;
const isHeavy = (f) => HEAVY.some((re) => re.test(f));
/** The next file this slot may start: the first in line, or the first light one while enough heavy files run. */
function next() {
  const i = queue.findIndex((f) => !isHeavy(f) || heavyRunning < opts.heavy);
  return i === -1 ? undefined : queue.splice(i, 1)[0];
}

async function worker() {
  for (;;) {
    const file = next();
    if (file === undefined) {
      if (queue.length === 0) return;
      await new Promise((r) => setTimeout(r, 100)); // only heavy files left, and enough of them run
      continue;
    }
    const heavy = isHeavy(file);
    if (heavy) heavyRunning++;
    const r = await runFile(file, env);
    if (heavy) heavyRunning--;
    results.push(r);
    const ok = r.code === 0;
    process.stdout.write(`\n${ok ? '✔' : '✖'} ${r.file} (${(r.ms / 1000).toFixed(1)} s)\n${r.output.trimEnd()}\n`);
  }
}
await Promise.all(Array.from({ length: Math.min(opts.concurrency, files.length) }, worker));

const failed = results.filter((r) => r.code !== 0);
const total = results.map((r) => summaryOf(r.output)).reduce((a, s) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] + s[k]])));
const wall = (performance.now() - started) / 1000;
if (!opts.quick && opts.filters.length === 0) {
  mkdirSync(dirname(timesFile), { recursive: true });
  writeFileSync(timesFile, JSON.stringify(Object.fromEntries(results.map((r) => [r.file, Math.round(r.ms)])), null, 1));
} else if (existsSync(dirname(timesFile))) {
  writeFileSync(timesFile, JSON.stringify({ ...times, ...Object.fromEntries(results.map((r) => [r.file, Math.round(r.ms)])) }, null, 1));
}
console.log(
  `\n${files.length} files, ${total.tests} tests: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped, ${total.cancelled} cancelled, in ${wall.toFixed(1)} s (concurrency ${opts.concurrency})`,
);
const slowest = [...results].sort((a, b) => b.ms - a.ms).slice(0, 5);
console.log(`slowest: ${slowest.map((r) => `${r.file} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}`);
if (failed.length > 0) console.log(`\nfailed files:\n${failed.map((r) => `  ${r.file} (exit ${r.code})`).join('\n')}`);
// The closing line in the plain form CI tools read for the totals of the whole run.
console.log(`\ntests: ${total.pass} passed, ${total.fail} failed, ${total.skipped} skipped`);
if (failed.length > 0) process.exit(1);

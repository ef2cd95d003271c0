#!/usr/bin/env node
// `npm run bench` (cold start): wall time from starting a process to its first 512² image on
// disk (tiny model, 20 Euler steps), for the ways of starting the CLI and for a plain node script
// doing the same work (dist/scripts/cold-start-plain.js). Rounds are interleaved, every variant
// once per round in rotating order, so machine load falls on all of them alike; medians and the
// min–max spread are printed. Needs a build (npm run build); runs in a temp folder with its own
// environment, so no .env or models/ of the checkout is read.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.env.COLD_START_ROUNDS ?? 5);
const dist = join(root, 'dist');
if (!existsSync(join(dist, '.build-stamp'))) {
  console.error('cold start: no dist/ build; run npm run build first');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'bench-cold-'));
const model = join(work, 'tiny');
const env = { PATH: process.env.PATH ?? '', HOME: work, TMPDIR: tmpdir(), LOG_LEVEL: 'warn', MODELS_DIR: work };
const run = (cmd, args, cwd = work) => {
  const t = performance.now();
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
};
const node = process.execPath;
run(node, [join(dist, 'src/cli/models.js'), 'create-tiny', model]);

const cli = (out) => [
  'a photo of a cat',
  '--model',
  model,
  '--out',
  join(work, out),
  '--size',
  '512x512',
  '--steps',
  '20',
  '--scheduler',
  'euler',
  '--seed',
  '1',
];
const variants = [
  {
    name: 'plain node script (dist/scripts/cold-start-plain.js)',
    run: () => run(node, [join(dist, 'scripts/cold-start-plain.js'), model, join(work, 'plain.png'), '512', '20']),
  },
  { name: 'node dist/src/cli/imagine.js', run: () => run(node, [join(dist, 'src/cli/imagine.js'), ...cli('dist.png')]) },
  { name: 'npm run imagine (launcher → dist/)', run: () => run('npm', ['run', '--silent', 'imagine', '--', ...cli('npm.png')], root) },
  {
    name: 'tsx src/cli/imagine.ts (before: what npm run imagine ran)',
    run: () => run(node, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'src/cli/imagine.ts'), ...cli('tsx.png')]),
  },
];
const times = variants.map(() => []);
try {
  for (const v of variants) v.run(); // warm the page cache
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      times[i].push(variants[i].run());
    }
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const plain = median(times[0]);
  console.log(`cold start to the first 512² image (tiny model, 20 steps), ${rounds} interleaved rounds: median (min–max), ×plain`);
  variants.forEach((v, i) => {
    const m = median(times[i]);
    console.log(
      `  ${v.name}: ${(m / 1000).toFixed(2)} s (${(Math.min(...times[i]) / 1000).toFixed(2)}–${(Math.max(...times[i]) / 1000).toFixed(2)}), ×${(m / plain).toFixed(2)}`,
    );
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}

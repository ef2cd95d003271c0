// `npm run bench`: the engine, project/reference-loop ratio, cold start, dispatcher and
// acknowledgement benchmarks in turn; with `-- --model DIR …`, the full-size model benchmark
// (scripts/bench-model.ts) instead; with `-- --ratio …`, only the ratio (scripts/bench-ratio.ts,
// given the other arguments: --sizes, --counts, --dtypes, --pairs, --repeats, --steps).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const scripts = args.includes('--model')
  ? [['bench-model.ts', ...args]]
  : args.includes('--ratio')
    ? [['bench-ratio.ts', ...args.filter((a) => a !== '--ratio')]]
    : [['bench-engine.ts', ...args], ['bench-ratio.ts'], ['bench-cold-start.mjs'], ['bench.ts'], ['bench-acks.ts']];
for (const [script, ...rest] of scripts) {
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(here, script), ...rest], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

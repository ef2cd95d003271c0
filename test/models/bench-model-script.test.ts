// `npm run bench -- --model DIR` end to end on a 1/16-width benchmark model: the dispatch to
// scripts/bench-model.ts, the measured job in a child process, and one line per memory option.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchModel } from '../../src/models/bench/index.js';
import { childEnv, isolatedCwd, entryArgs } from '../support/child-process.js';

const root = mkdtempSync(join(tmpdir(), 'bench-model-script-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('bench --model prints per-step UNet time, wall/session.run, copies and peak RSS per memory option', async () => {
  const dir = join(root, 'sd15');
  await createBenchModel(dir, { arch: 'sd15', reduce: 16 });
  const r = spawnSync(process.execPath, entryArgs('scripts/bench-run.ts', '--model', dir, '--size', '64', '--steps', '2', '--warmup', '0'), {
    cwd: isolatedCwd(),
    env: childEnv({ LOG_LEVEL: 'warn' }),
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const m =
    /default: cpu, 2 steps, count 1, guidance 7\.5: UNet (\d+) ms\/step, .*wall\/session\.run (\d\.\d{3}), .*per UNet step 0 to \+ 0 from the device .*peak RSS (\d+) MiB/.exec(
      r.stdout,
    );
  assert.ok(m, r.stdout);
  const ratio = Number(m[2]);
  assert.ok(ratio >= 1 && ratio < 3, `wall/session.run ${ratio}`);
  for (const option of ['default', 'release sessions', 'tiled VAE 256', 'LOW_MEMORY=1']) {
    assert.match(r.stdout, new RegExp(`\\n  ${option}: \\d+ \\(image \\d+ ms`), option);
  }
});

test('bench --model refuses bad arguments with the reason', () => {
  const r = spawnSync(process.execPath, entryArgs('scripts/bench-run.ts', '--model', join(root, 'x'), '--steps', '0'), {
    cwd: isolatedCwd(),
    env: childEnv(),
    encoding: 'utf8',
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /steps/);
});

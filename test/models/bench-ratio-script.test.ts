// `npm run bench -- --ratio …` end to end at a small size: the pipeline and the plain reference
// loop (scripts/reference-loop.ts) must give the same pixels, within one level, on the float32
// and float16 tiny models, and one to four images (the bench fails otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { childEnv, isolatedCwd, entryArgs } from '../support/child-process.js';

for (const mode of ['one process', '--separate'] as const)
  test(`bench --ratio (${mode}): pipeline and reference loop agree within one level, and the ratio is printed`, () => {
    const args = ['--ratio', '--sizes', '64', '--counts', '1,3', '--dtypes', 'fp32,fp16', '--pairs', '1', '--repeats', '1', '--steps', '3'];
    if (mode === '--separate') args.push('--separate');
    const r = spawnSync(process.execPath, entryArgs('scripts/bench-run.ts', ...args), {
      cwd: isolatedCwd(),
      env: childEnv({ LOG_LEVEL: 'warn' }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    for (const dtype of ['fp32', 'fp16']) {
      for (const count of [1, 3]) {
        assert.match(
          r.stdout,
          new RegExp(`${dtype} 64² ×${count}: pipeline [\\d.]+ ms, reference [\\d.]+ ms, ratio \\d\\.\\d{3} .*pixels within [01] level`),
          `${dtype} ×${count}`,
        );
      }
    }
    assert.match(r.stdout, mode === '--separate' ? /each side in its own process/ : /one process, the same ORT sessions/);
    assert.match(r.stdout, /load average at start: [\d.]+, [\d.]+, [\d.]+/);
    assert.match(r.stdout, /worst ratio \d\.\d{3} \(target ≤ 0\.9\)/);
  });

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readTextChunks } from '../../src/diffusion/png.js';
import { tinyModel } from '../support/tiny-models.js';

function imagine(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/imagine.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn' },
    timeout: 60_000,
  });
}

test('npm run imagine writes the PNG(s) and reports seed and step time', async () => {
  const model = await tinyModel();
  const out = join(mkdtempSync(join(tmpdir(), 'cli-')), 'cat.png');
  const r = imagine(['a photo of a cat', '--model', model, '--steps', '3', '--seed', '7', '--size', '64x96', '--scheduler', 'euler_a', '--count', '2', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /seed 7 → .*cat-1\.png/);
  assert.match(r.stdout, /seed 8 → .*cat-2\.png/);
  assert.match(r.stdout, /ms per step/);
  const png = readFileSync(out.replace('cat.png', 'cat-1.png'));
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.width, meta.height], [64, 96]);
  assert.match(readTextChunks(png).parameters, /Seed: 7, Size: 64x96/);
});

test('bad input: one clear line, exit 1, no stack trace, no output file', async () => {
  const model = await tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'cli-'));
  const out = join(dir, 'x.png');
  for (const [args, message] of [
    [['a cat', '--model', model, '--size', '100x100', '--out', out], /width must be a multiple of 8/],
    [['a cat', '--model', model, '--steps', '-2', '--out', out], /steps/],
    [['a cat', '--model', join(dir, 'missing'), '--out', out], /does not exist/],
    [['a cat', '--model', model, '--scheduler', 'warp', '--out', out], /scheduler/],
  ] as const) {
    const r = imagine([...args]);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  }
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir), []);
});

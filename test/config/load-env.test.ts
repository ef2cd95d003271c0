import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDotEnv } from '../../src/config/load-env.js';
import { childEnv, repoRoot, entryArgs } from '../support/child-process.js';
import { tinyModel } from '../support/tiny-models.js';

test('loadDotEnv fills only the keys the environment lacks; no file is not an error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dotenv-'));
  writeFileSync(join(dir, '.env'), 'MODELS_DIR=/from/dotenv\nLOW_MEMORY=1\nEMPTY_IN_ENV=from-file\n');
  const env: NodeJS.ProcessEnv = { MODELS_DIR: '/from/env', EMPTY_IN_ENV: '' };
  assert.equal(loadDotEnv(join(dir, '.env'), env), true);
  assert.deepEqual(env, { MODELS_DIR: '/from/env', EMPTY_IN_ENV: '', LOW_MEMORY: '1' });
  assert.equal(loadDotEnv(join(dir, 'missing.env'), env), false);
});

test('every entry point in package.json imports src/config/load-env.ts before anything else', () => {
  const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const entries = [...new Set(Object.values(scripts).flatMap((s) => [...s.matchAll(/(?:tsx|launch\.mjs) (src\/\S+\.ts)/g)].map((m) => m[1])))];
  assert.ok(entries.length >= 6, `found ${entries.join(', ')}`);
  for (const entry of entries) {
    const firstImport = /^import [^\n]*$/m.exec(readFileSync(join(repoRoot, entry), 'utf8'))?.[0] ?? '';
    assert.match(firstImport, /^import '(\.\/|\.\.\/)+config\/load-env\.js';/, `${entry} starts with ${firstImport}`);
  }
});

/** `npm run imagine` in a folder holding `dotenv` as .env, with `env` as the environment. */
function imagineIn(dotenv: string, args: string[], env: Record<string, string> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'imagine-dotenv-'));
  writeFileSync(join(cwd, '.env'), dotenv);
  return {
    cwd,
    r: spawnSync(process.execPath, entryArgs('src/cli/imagine.ts', ...args), {
      cwd,
      env: childEnv({ LOG_LEVEL: 'warn', ...env }),
      encoding: 'utf8',
      timeout: 60_000,
    }),
  };
}

test('npm run imagine reads MODELS_DIR, LOW_MEMORY and UPSCALER from .env; the environment wins', async () => {
  const model = await tinyModel();
  const modelsDir = mkdtempSync(join(tmpdir(), 'dotenv-models-'));
  mkdirSync(join(modelsDir, 'only'));
  cpSync(model, join(modelsDir, 'only'), { recursive: true });

  // MODELS_DIR from .env: no --model needed; the PNG lands where --out says (relative to the cwd).
  const ok = imagineIn(`MODELS_DIR=${modelsDir}\n`, ['a cat', '--steps', '1', '--size', '64x64', '--seed', '3', '--out', 'cat.png']);
  assert.equal(ok.r.status, 0, ok.r.stderr);
  assert.ok(readFileSync(join(ok.cwd, 'cat.png')).length > 0);

  const badMemory = imagineIn('LOW_MEMORY=sometimes\n', ['a cat', '--model', model, '--steps', '1', '--size', '64x64', '--out', 'x.png']);
  assert.equal(badMemory.r.status, 1);
  assert.match(badMemory.r.stderr, /LOW_MEMORY/);
  const envWins = imagineIn('LOW_MEMORY=sometimes\n', ['a cat', '--model', model, '--steps', '1', '--size', '64x64', '--out', 'x.png'], { LOW_MEMORY: '1' });
  assert.equal(envWins.r.status, 0, envWins.r.stderr);

  const upscaler = imagineIn('UPSCALER=/nowhere/upscaler-from-dotenv\n', [
    'a cat',
    '--model',
    model,
    '--steps',
    '1',
    '--size',
    '64x64',
    '--upscale',
    '2',
    '--out',
    'x.png',
  ]);
  assert.equal(upscaler.r.status, 1);
  assert.match(upscaler.r.stderr, /upscaler-from-dotenv/);

  const noModel = imagineIn(`MODELS_DIR=${modelsDir}\n`, ['a cat', '--out', 'x.png'], { MODELS_DIR: '/nonexistent-models-from-env' });
  assert.equal(noModel.r.status, 1);
  assert.match(noModel.r.stderr, /No model in \/nonexistent-models-from-env/);
});

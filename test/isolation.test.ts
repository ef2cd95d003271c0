// The suite's process-spawning helpers keep every child away from the checkout's models/, data/
// and .env and from the developer's environment. Run against a copy of the checkout (test/
// copied, the rest linked) with a populated models/ and a poisoned .env, so a real checkout is
// never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './support/child-process.js';
import { tinyModel } from './support/tiny-models.js';

const POISON = {
  DISCORD_TOKEN: 'poisoned-token',
  DISCORD_API_URL: 'http://127.0.0.1:9/api',
  MODELS_DIR: './models',
  DATA_DIR: './data-from-dotenv',
  DEFAULT_MODEL: 'intruder',
  LOW_MEMORY: 'sometimes',
  DEVICES: 'none',
  UPSCALER: './models/intruder',
};

test('with models/ and .env in the checkout, the helpers and the Redis affinity tests see neither', { timeout: 180_000 }, async () => {
  const fake = mkdtempSync(join(tmpdir(), 'checkout-copy-'));
  try {
    for (const entry of ['src', 'commands', 'scripts', 'node_modules', 'package.json', 'tsconfig.json']) symlinkSync(join(repoRoot, entry), join(fake, entry));
    cpSync(join(repoRoot, 'test'), join(fake, 'test'), { recursive: true });
    cpSync(await tinyModel(), join(fake, 'models', 'intruder'), { recursive: true });
    writeFileSync(
      join(fake, '.env'),
      Object.entries(POISON)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
    // The probe tries every spawning helper; the affinity tests failed with a populated ./models.
    const files = ['test/support/isolation-probe.ts', 'test/queue/redis-affinity.test.ts'];
    // As a developer runs test files from the checkout, with the poison in the shell too
    // (NODE_TEST_CONTEXT would make the inner runner report to this one instead of stdout).
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
      cwd: fake,
      env: { ...env, ...POISON, MODELS_DIR: join(fake, 'models') },
      encoding: 'utf8',
      timeout: 170_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /ℹ fail 0/);
    assert.deepEqual(readdirSync(fake).sort(), ['.env', 'commands', 'models', 'node_modules', 'package.json', 'scripts', 'src', 'test', 'tsconfig.json']);
    assert.deepEqual(readdirSync(join(fake, 'models')), ['intruder']);
    assert.equal(existsSync(join(fake, 'data-from-dotenv')), false);
  } finally {
    rmSync(fake, { recursive: true, force: true });
  }
});

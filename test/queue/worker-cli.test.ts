import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isolated, entryArgs } from '../support/child-process.js';

test('npm run worker without REDIS_URL: one clear line on stderr, no stack trace, exit 1', () => {
  const r = spawnSync(process.execPath, entryArgs('src/queue/worker-cli.ts'), { ...isolated({ DEVICES: 'noop:0' }), encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^worker: REDIS_URL is not set: [^\n]+\n$/);
  assert.equal(r.stdout, '');
});

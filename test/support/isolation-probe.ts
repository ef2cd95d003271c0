// Run by test/isolation.test.ts inside a copy of the checkout whose models/ holds a model named
// "intruder" and whose .env (and the parent's environment) set poisoned values: every process
// the suite's helpers start must see none of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { spawnBot as spawnE2eBot } from '../bot/harness.js';
import { spawnBot } from '../bot/support/bot-process.js';
import { redisSkipReason, startWorkerHost, withRedis } from '../queue/redis-support.js';
import { isolated, entryArgs } from './child-process.js';

test('bot-process.ts spawnBot: no DISCORD_TOKEN from .env or the environment', async () => {
  const bot = spawnBot({ LOG_LEVEL: 'warn' });
  assert.equal(await bot.exited, 1, bot.output());
  assert.match(bot.output(), /DISCORD_TOKEN is not set/);
});

test('harness.ts spawnBot: no DISCORD_TOKEN from .env or the environment', async () => {
  const bot = spawnE2eBot({ LOG_LEVEL: 'warn' });
  assert.equal(await bot.wait(), 1, bot.log);
  assert.match(bot.log, /DISCORD_TOKEN is not set/);
});

test('the CLIs see no ./models and no .env', () => {
  const imagine = spawnSync(process.execPath, entryArgs('src/cli/imagine.ts', 'a cat', '--out', 'x.png'), { ...isolated(), encoding: 'utf8' });
  assert.equal(imagine.status, 1);
  assert.match(imagine.stderr, /No model in \S*child-cwd-\S*\/models\./);
  const list = spawnSync(process.execPath, entryArgs('src/cli/models.ts', 'list'), { ...isolated(), encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  assert.doesNotMatch(list.stdout + list.stderr, /intruder/);
});

test('redis-support.ts startWorkerHost: starts without the poisoned .env', { skip: redisSkipReason() }, async () => {
  await withRedis(async (redis) => {
    const host = await startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '5', WORKER_NAME: 'probe' });
    await host.stop();
  });
});

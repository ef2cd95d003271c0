// loadEnv: defaults, parsing, and one error naming every bad variable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { baseEnvSchema, loadEnv, parseEnv } from '../../src/config/env.js';

test('defaults and parsing', () => {
  const c = loadEnv({});
  assert.deepEqual(c.DEVICES, ['cpu']);
  assert.equal(c.MAX_QUEUE, 100);
  assert.equal(c.MAX_QUEUED_PER_USER, 5);
  assert.equal(c.OUTPUT_RETENTION_DAYS, 30);
  assert.equal(c.STALL_TIMEOUT_MS, 120_000);
  assert.equal(c.NOOP_STEP_MS, 5);
  assert.equal(c.QUEUE_BACKEND, 'local');
  assert.equal(c.METRICS_PORT, undefined);
  assert.equal(c.DEFAULT_MODEL, undefined);
  const d = loadEnv({ DEVICES: 'cuda:0, cuda:1,noop:3', METRICS_PORT: '9100', OUTPUT_RETENTION_DAYS: '0' });
  assert.deepEqual(d.DEVICES, ['cuda:0', 'cuda:1', 'noop:3']);
  assert.equal(d.METRICS_PORT, 9100);
  assert.equal(d.OUTPUT_RETENTION_DAYS, 0);
});

test('every bad variable is listed in one error', () => {
  assert.throws(
    () => loadEnv({ DEVICES: 'gpu0', MAX_QUEUE: 'lots', METRICS_PORT: '70000', LOG_LEVEL: 'loud' }),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      for (const key of ['DEVICES', 'MAX_QUEUE', 'METRICS_PORT', 'LOG_LEVEL']) assert.match(e.message, new RegExp(`${key}:`));
      return true;
    },
  );
  assert.throws(() => loadEnv({ QUEUE_BACKEND: 'redis' }), /REDIS_URL: required/);
  assert.throws(
    () => loadEnv({ QUEUE_BACKEND: 'redis', REDIS_URL: 'localhost:6379', REDIS_QUEUE: 'a b' }),
    (e: unknown) => {
      assert.match(String(e), /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/);
      assert.match(String(e), /REDIS_QUEUE: letters, digits/);
      return true;
    },
  );
  const r = loadEnv({ QUEUE_BACKEND: 'redis', REDIS_URL: 'redis://h:6379' });
  assert.deepEqual([r.REDIS_QUEUE, r.REDIS_PREFIX, r.WORKER_NAME, r.WORKER_SHUTDOWN_GRACE_MS], ['imagine', 'bull', undefined, 30_000]);
  assert.throws(() => loadEnv({ DEVICES: 'cpu,cpu' }), /twice/);
});

test('the schema can be extended by the bot', () => {
  const schema = baseEnvSchema.extend({ DISCORD_TOKEN: z.string().min(1) });
  assert.equal(parseEnv(schema, { DISCORD_TOKEN: 't' }).DISCORD_TOKEN, 't');
  assert.throws(() => parseEnv(schema, {}), /DISCORD_TOKEN/);
});

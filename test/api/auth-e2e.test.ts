// Keys against the real API process: none, wrong, revoked, over the key's quota (429 with
// Retry-After, counted from the jobs table like Discord users' quotas), the per-key rate limit,
// and API_AUTH=off refused beyond loopback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isolated, entryArgs } from '../support/child-process.js';
import { type ApiProcess, createKey, getJson, keysCli, postJson, startApi, tempDataDir } from './support.js';

const small = { prompt: 'a cat', num_inference_steps: 1, width: 64, height: 64 };

describe('API keys', () => {
  let api: ApiProcess;
  let dataDir: string;
  before(async () => {
    dataDir = tempDataDir();
    api = await startApi({ DEVICES: 'noop:1', NOOP_STEP_MS: '1' }, { dataDir });
  });
  after(() => api?.stop());

  test('no key: 401 in each door’s error shape; the status page, docs and OpenAPI need none', async () => {
    const seed = await postJson(`${api.url}/generate`, small);
    assert.equal(seed.status, 401);
    assert.equal(seed.json.error.code, 'missing_api_key');
    const a1111 = await postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'x' });
    assert.equal(a1111.status, 401);
    assert.match(a1111.json.detail, /An API key is required/);
    const openai = await postJson(`${api.url}/v1/images/generations`, { prompt: 'x' });
    assert.equal(openai.status, 401);
    assert.equal(openai.json.error.type, 'invalid_request_error');
    assert.equal((await fetch(`${api.url}/`)).status, 200);
    assert.equal((await fetch(`${api.url}/docs/`)).status, 200);
    const spec = await getJson(`${api.url}/openapi.json`);
    for (const path of [
      '/generate',
      '/jobs',
      '/jobs/{id}',
      '/jobs/{id}/events',
      '/sdapi/v1/txt2img',
      '/sdapi/v1/img2img',
      '/v1/images/generations',
      '/v1/images/edits',
    ])
      assert.ok(spec.json.paths[path], `${path} in openapi.json`);
    assert.equal((await fetch(`${api.url}/healthz`)).status, 200);
    assert.match(await (await fetch(`${api.url}/metrics`)).text(), /imagine_/);
  });

  test('a wrong key and a revoked key are refused; keys are stored hashed', async () => {
    const key = createKey(dataDir, 'to-revoke');
    assert.match(key, /^ib_[\w-]{43}$/);
    assert.equal((await postJson(`${api.url}/generate`, small, key)).status, 200);
    assert.equal((await postJson(`${api.url}/generate`, small, `${key}x`)).status, 401);
    const revoked = keysCli(dataDir, 'revoke', 'to-revoke');
    assert.equal(revoked.status, 0, revoked.stderr);
    const r = await postJson(`${api.url}/generate`, small, key);
    assert.equal(r.status, 401);
    assert.match(r.json.error.message, /revoked/);
    const list = keysCli(dataDir, 'list');
    assert.match(list.stdout, /^to-revoke\trevoked /m);
    const db = readFileSync(join(dataDir, 'bot.sqlite'));
    const wal = (() => {
      try {
        return readFileSync(join(dataDir, 'bot.sqlite-wal'));
      } catch {
        return Buffer.alloc(0);
      }
    })();
    assert.equal(Buffer.concat([db, wal]).includes(key), false, 'the plain key is not in the database');
    assert.equal(keysCli(dataDir, 'create', 'to-revoke').status, 1, 'a name is not reused');
  });

  test("over the key's images per day: 429 with Retry-After, counted like Discord users' quotas", async () => {
    const key = createKey(dataDir, 'one-a-day', '--images-per-day', '2');
    assert.equal((await postJson(`${api.url}/generate`, { ...small, num_images: 2 }, key)).status, 200);
    const r = await postJson(`${api.url}/generate`, small, key);
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'images_per_day');
    assert.match(r.json.error.message, /2 images per day: next slot in/);
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry > 23 * 3600 && retry <= 24 * 3600, `Retry-After ${retry}`);
    const a1111 = await postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'x' }, key);
    assert.equal(a1111.status, 429);
    assert.ok(a1111.headers.get('retry-after'));
  });

  test("the key's own ceilings: more steps than --max-steps is refused with the limit", async () => {
    const key = createKey(dataDir, 'few-steps', '--max-steps', '4');
    const r = await postJson(`${api.url}/generate`, { ...small, num_inference_steps: 5 }, key);
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /at most 4 steps/);
  });

  test('the per-key rate limit: 429 with Retry-After past --rate-per-min, other keys unaffected', async () => {
    const key = createKey(dataDir, 'chatty', '--rate-per-min', '3');
    const other = createKey(dataDir, 'quiet');
    for (let i = 0; i < 3; i++) assert.equal((await getJson(`${api.url}/v1/models`, key)).status, 200);
    const r = await getJson(`${api.url}/v1/models`, key);
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.equal((await getJson(`${api.url}/v1/models`, other)).status, 200);
  });

  test('keys create validates its flags', () => {
    const r = keysCli(dataDir, 'create', 'bad', '--max-steps', 'lots');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--max-steps must be a number/);
  });
});

test('API_AUTH=off is refused unless the API listens on loopback', () => {
  const r = spawnSync(process.execPath, entryArgs('src/api/main.ts'), {
    encoding: 'utf8',
    ...isolated({ DATA_DIR: tempDataDir(), API_AUTH: 'off', API_HOST: '0.0.0.0', API_PORT: '0', DEVICES: 'noop:1' }),
    timeout: 60_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /API_AUTH=off is only allowed when the API listens on loopback/);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
});

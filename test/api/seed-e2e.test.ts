// The seed tutorial's door against the real API process: /generate, /jobs with polling and
// cancelling, Server-Sent Events, clients that go away, and the same seed giving the same PNG
// through /generate, /sdapi/v1/txt2img and `npm run imagine`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readTextChunks } from '../../src/diffusion/png.js';
import { isolated, entryArgs } from '../support/child-process.js';
import { type ApiProcess, createKey, getJson, type Json, postJson, startApi, tempDataDir } from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForState(url: string, key: string, states: string[], timeoutMs = 60_000): Promise<Json> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await getJson(url, key);
    if (states.includes(r.json.status)) return r.json;
    if (Date.now() > until) throw new Error(`still ${r.json.status}: ${JSON.stringify(r.json)}`);
    await sleep(100);
  }
}

/** Reads an SSE stream until it ends or `stopAfter` says so; returns the events. */
async function readEvents(res: Response, stopAfter?: (e: { event: string; data: Json }) => boolean): Promise<{ event: string; data: Json }[]> {
  const events: { event: string; data: Json }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!event || !data) continue;
      const e = { event, data: JSON.parse(data) };
      events.push(e);
      if (stopAfter?.(e)) return events;
    }
  }
  return events;
}

describe('/generate and the same seed through every door', () => {
  let api: ApiProcess;
  let key: string;
  before(async () => {
    const dataDir = tempDataDir();
    key = createKey(dataDir, 'seed-client');
    api = await startApi({}, { dataDir });
  });
  after(() => api?.stop());

  test('/generate answers with base64 PNGs, their seeds and the parameters, model defaults filled in', async () => {
    const r = await postJson(`${api.url}/generate`, { prompt: 'a boat', num_inference_steps: 2, width: 64, height: 96, seed: 10, num_images: 2 }, key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.images.length, 2);
    assert.deepEqual(r.json.seeds, [10, 11]);
    assert.equal(r.json.parameters.model, 'tiny');
    assert.equal(r.json.parameters.guidance_scale, 7.5, "the model's default guidance");
    assert.match(readTextChunks(Buffer.from(r.json.images[1], 'base64')).parameters, /Seed: 11, Size: 64x96/);
  });

  test('the same seed gives the same PNG through /generate, /sdapi/v1/txt2img and the CLI', async () => {
    const generate = await postJson(`${api.url}/generate`, { prompt: 'a lighthouse', num_inference_steps: 3, width: 64, height: 64, seed: 4242 }, key);
    const a1111 = await postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'a lighthouse', steps: 3, width: 64, height: 64, seed: 4242, cfg_scale: 7.5 }, key);
    assert.equal(generate.status, 200, JSON.stringify(generate.json));
    assert.equal(a1111.status, 200, JSON.stringify(a1111.json));
    const out = join(mkdtempSync(join(tmpdir(), 'api-cli-')), 'same.png');
    const cli = spawnSync(
      process.execPath,
      entryArgs(
        'src/cli/imagine.ts',
        'a lighthouse',
        '--model',
        join(api.modelsDir, 'tiny'),
        '--steps',
        '3',
        '--size',
        '64x64',
        '--seed',
        '4242',
        '--out',
        out,
      ),
      { encoding: 'utf8', ...isolated({ LOG_LEVEL: 'warn' }), timeout: 120_000 },
    );
    assert.equal(cli.status, 0, cli.stderr);
    const fromGenerate = Buffer.from(generate.json.images[0], 'base64');
    assert.deepEqual(Buffer.from(a1111.json.images[0], 'base64'), fromGenerate, '/sdapi/v1/txt2img and /generate');
    assert.deepEqual(readFileSync(out), fromGenerate, 'the CLI and /generate');
  });

  test('bad input: 422 naming the field, 400 for base64 that is no image, 404 for an unknown model', async () => {
    const wrongType = await postJson(`${api.url}/generate`, { prompt: 'x', num_inference_steps: 'many' }, key);
    assert.equal(wrongType.status, 422);
    assert.equal(wrongType.json.error.param, 'num_inference_steps');
    const tooMany = await postJson(`${api.url}/generate`, { prompt: 'x', num_inference_steps: 500 }, key);
    assert.equal(tooMany.status, 422);
    assert.match(tooMany.json.error.message, /num_inference_steps|steps must be between 1 and 50/);
    const badImage = await postJson(`${api.url}/generate`, { prompt: 'x', init_image: Buffer.from('GIF89a fake').toString('base64') }, key);
    assert.equal(badImage.status, 400);
    assert.equal(badImage.json.error.param, 'init_image');
    const model = await postJson(`${api.url}/generate`, { prompt: 'x', model: 'sd-turbo' }, key);
    assert.equal(model.status, 404);
    assert.deepEqual(model.json.error.models, ['tiny']);
  });

  test('a body over the limit is refused with 413', async () => {
    // The server answers from the declared length, before reading the body: sending 30 MiB in
    // full would race its early answer against the client's writes (EPIPE under load).
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${api.url}/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'content-length': String(30 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('{"prompt":"x","init_image":"AAAA');
    });
    assert.equal(status, 413);
  });
});

describe('/jobs, SSE progress, and clients that go away', () => {
  let api: ApiProcess;
  let key: string;
  before(async () => {
    const dataDir = tempDataDir();
    key = createKey(dataDir, 'jobs-client');
    api = await startApi({ DEVICES: 'noop:1', NOOP_STEP_MS: '100' }, { dataDir });
  });
  after(() => api?.stop());

  test('POST /jobs answers 202 with an id at once; GET /jobs/{id} shows progress, then the result', async () => {
    const r = await postJson(`${api.url}/jobs`, { prompt: 'a tree', num_inference_steps: 10, width: 64, height: 64, seed: 3 }, key);
    assert.equal(r.status, 202);
    assert.equal(r.headers.get('location'), `/jobs/${r.json.id}`);
    const running = await waitForState(`${api.url}/jobs/${r.json.id}`, key, ['running', 'done']);
    if (running.status === 'running') assert.equal(running.progress.total_steps, 10);
    const done = await waitForState(`${api.url}/jobs/${r.json.id}`, key, ['done']);
    assert.deepEqual(done.result.seeds, [3]);
    assert.equal(done.result.images.length, 1);
    assert.equal((await fetch(done.result.urls[0])).status, 200);
  });

  test('SSE: position, started, every step, then done with the image URLs', async () => {
    const r = await postJson(`${api.url}/jobs`, { prompt: 'a river', num_inference_steps: 8, width: 64, height: 64 }, key);
    const res = await fetch(`${api.url}/jobs/${r.json.id}/events`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const events = await readEvents(res);
    assert.equal(events[0].event, 'state');
    const steps = events.filter((e) => e.event === 'progress').map((e) => e.data.step);
    assert.ok(steps.length >= 4, `progress events: ${JSON.stringify(events)}`);
    assert.deepEqual(
      steps,
      [...steps].sort((a, b) => a - b),
    );
    assert.equal(events.find((e) => e.event === 'progress')?.data.total_steps, 8);
    const last = events.at(-1)!;
    assert.equal(last.event, 'done');
    assert.equal(last.data.urls.length, 1);
  });

  test('a client that disconnects mid-job loses nothing: the job finishes and stays fetchable by id', async () => {
    const r = await postJson(`${api.url}/jobs`, { prompt: 'a mountain', num_inference_steps: 15, width: 64, height: 64 }, key);
    const controller = new AbortController();
    const res = await fetch(`${api.url}/jobs/${r.json.id}/events`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
    await readEvents(res, (e) => e.event === 'progress').catch(() => []);
    controller.abort();
    // A synchronous call abandoned mid-job too.
    const abandoned = new AbortController();
    const generate = fetch(`${api.url}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ prompt: 'abandoned', num_inference_steps: 5, width: 64, height: 64 }),
      signal: abandoned.signal,
    }).catch(() => undefined);
    await sleep(300);
    abandoned.abort();
    await generate;
    const done = await waitForState(`${api.url}/jobs/${r.json.id}`, key, ['done']);
    assert.equal(done.result.images.length, 1);
    const status = await getJson(`${api.url}/status`, key);
    for (let i = 0; i < 50 && status.json.recent.find((j: Json) => j.prompt === 'abandoned')?.state !== 'done'; i++) {
      await sleep(200);
      Object.assign(status, await getJson(`${api.url}/status`, key));
    }
    assert.equal(status.json.recent.find((j: Json) => j.prompt === 'abandoned')?.state, 'done', 'the abandoned /generate job finished');
  });

  test('DELETE /jobs/{id} cancels a waiting job; another key cannot see or cancel it', async () => {
    const other = createKey(api.dataDir, 'someone-else');
    const first = await postJson(`${api.url}/jobs`, { prompt: 'long', num_inference_steps: 30, width: 64, height: 64 }, key);
    const second = await postJson(`${api.url}/jobs`, { prompt: 'waiting', num_inference_steps: 30, width: 64, height: 64 }, key);
    assert.equal((await getJson(`${api.url}/jobs/${second.json.id}`, other)).status, 404);
    const refused = await fetch(`${api.url}/jobs/${second.json.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${other}` } });
    assert.equal(refused.status, 404);
    for (const id of [second.json.id, first.json.id]) {
      const res = await fetch(`${api.url}/jobs/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
      assert.equal(res.status, 200);
    }
    const cancelled = await waitForState(`${api.url}/jobs/${second.json.id}`, key, ['cancelled']);
    assert.equal(cancelled.status, 'cancelled');
    await waitForState(`${api.url}/jobs/${first.json.id}`, key, ['cancelled']);
  });

  test('shutting down with an event stream open ends the stream and exits; the job resumes on the next start', async () => {
    const r = await postJson(`${api.url}/jobs`, { prompt: 'interrupted', num_inference_steps: 50, width: 64, height: 64 }, key);
    const res = await fetch(`${api.url}/jobs/${r.json.id}/events`, { headers: { authorization: `Bearer ${key}` } });
    const events = readEvents(res);
    await waitForState(`${api.url}/jobs/${r.json.id}`, key, ['running']);
    const started = Date.now();
    await api.stop();
    assert.ok(Date.now() - started < 8000, `stopped in ${Date.now() - started} ms`);
    assert.ok((await events).length >= 1, 'the stream ended');
    assert.match(api.output(), /job interrupted by shutdown; it resumes on the next start/);
  });
});

// The AUTOMATIC1111 door against the real API process, with request bodies as public clients
// send them:
// - aiyabot (github.com/Kilvoctu/aiyabot, core/stablecog.py): `sampler_index`,
//   `seed_resize_from_*`, `"denoising_strength": None`, img2img's `init_images` as a
//   `data:image/png;base64,` URL, and the JSON posted with `requests.post(data=json.dumps(…))`,
//   that is without a Content-Type header.
// - Open WebUI (github.com/open-webui/open-webui, backend/open_webui/routers/images.py):
//   `{prompt, batch_size, width, height, steps, negative_prompt, cfg_scale, sampler_name,
//   scheduler}` with `authorization: Basic base64(AUTOMATIC1111_API_AUTH)` ("user:password"),
//   and GET/POST /sdapi/v1/options for `sd_model_checkpoint`.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { type ApiProcess, createKey, type Json, getJson, postJson, startApi, tempDataDir } from './support.js';

/** POST with no Content-Type at all, as Python's requests does for `data=<str>`. */
function postWithoutContentType(url: string, body: string, key: string): Promise<{ status: number; json: Json }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('AUTOMATIC1111-compatible API', () => {
  let api: ApiProcess;
  let key: string;

  before(async () => {
    const dataDir = tempDataDir();
    key = createKey(dataDir, 'a1111-client');
    api = await startApi({}, { dataDir });
  });
  after(() => api?.stop());

  test("aiyabot's txt2img body, sent without a Content-Type: images, parameters and info with the seed", async () => {
    const payload = {
      prompt: 'a castle on a hill',
      negative_prompt: 'blurry',
      steps: 5,
      height: 192,
      width: 192,
      cfg_scale: 7.0,
      sampler_index: 'Euler a',
      seed: 1234,
      seed_resize_from_h: 0,
      seed_resize_from_w: 0,
      denoising_strength: null,
      n_iter: 2,
    };
    const r = await postWithoutContentType(`${api.url}/sdapi/v1/txt2img`, JSON.stringify(payload), key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.images.length, 2);
    const meta = await sharp(Buffer.from(r.json.images[0], 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [192, 192]);
    const info = JSON.parse(r.json.info);
    assert.equal(info.seed, 1234);
    assert.deepEqual(info.all_seeds, [1234, 1235]);
    assert.equal(info.sampler_name, 'Euler a');
    assert.equal(info.steps, 5);
    assert.equal(info.infotexts.length, 2);
    assert.match(info.infotexts[0], /^a castle on a hill\nNegative prompt: blurry\nSteps: 5, Sampler: euler_a, CFG scale: 7, Seed: 1234, Size: 192x192/);
    assert.equal(r.json.parameters.sampler_index, 'Euler a');
  });

  test("aiyabot's img2img body: init_images as a data URL, denoising_strength", async () => {
    const init = await sharp({ create: { width: 128, height: 128, channels: 3, background: '#884422' } })
      .png()
      .toBuffer();
    const payload = {
      prompt: 'a painting',
      negative_prompt: '',
      steps: 4,
      height: 128,
      width: 128,
      cfg_scale: 7.0,
      sampler_index: 'Euler',
      seed: 5,
      seed_resize_from_h: 0,
      seed_resize_from_w: 0,
      denoising_strength: 0.5,
      init_images: [`data:image/png;base64,${init.toString('base64')}`],
    };
    const r = await postWithoutContentType(`${api.url}/sdapi/v1/img2img`, JSON.stringify(payload), key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const info = JSON.parse(r.json.info);
    assert.equal(info.denoising_strength, 0.5);
    assert.match(info.infotexts[0], /Denoising strength: 0\.5/);
    assert.equal(r.json.parameters.init_images, undefined, 'the input image is not echoed back');
  });

  test('img2img with base64 that is not an image: 400 naming the field', async () => {
    const r = await postJson(`${api.url}/sdapi/v1/img2img`, { prompt: 'x', init_images: [Buffer.from('hello, not a picture').toString('base64')] }, key);
    assert.equal(r.status, 400);
    assert.match(r.json.detail, /init_images\[0\] is not a PNG, JPEG or WebP image/);
    const notBase64 = await postJson(`${api.url}/sdapi/v1/img2img`, { prompt: 'x', init_images: ['%%% not base64 %%%'] }, key);
    assert.equal(notBase64.status, 400);
    assert.match(notBase64.json.detail, /init_images\[0\] is not base64/);
  });

  test('Open WebUI: Basic auth with the key as password, options, then its txt2img body', async () => {
    const basic = `Basic ${Buffer.from(`openwebui:${key}`).toString('base64')}`;
    const headers = { authorization: basic };
    const options = await fetch(`${api.url}/sdapi/v1/options`, { headers });
    assert.equal(options.status, 200);
    assert.equal(((await options.json()) as Json).sd_model_checkpoint, 'tiny');
    const set = await fetch(`${api.url}/sdapi/v1/options`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ sd_model_checkpoint: 'tiny [abc123]' }),
    });
    assert.equal(set.status, 200);
    const models = await fetch(`${api.url}/sdapi/v1/sd-models`, { headers });
    assert.deepEqual(
      ((await models.json()) as Json).map((m: { title: string }) => m.title),
      ['tiny'],
    );
    const body = {
      prompt: 'a fox in the snow',
      batch_size: 1,
      width: 64,
      height: 64,
      steps: 3,
      negative_prompt: 'people',
      cfg_scale: 5,
      sampler_name: 'DPM++ 2M',
      scheduler: 'Karras',
    };
    const res = await fetch(`${api.url}/sdapi/v1/txt2img`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Json;
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.images.length, 1);
    assert.equal(JSON.parse(json.info).sampler_name, 'DPM++ 2M Karras', 'sampler + schedule type map to dpmpp_2m_karras');
  });

  test('wrong types get 422 naming the field; unknown fields are ignored; null is the default', async () => {
    const r = await postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'x', steps: 'twenty', cfg_scale: '7' }, key);
    assert.equal(r.status, 422);
    assert.deepEqual(r.json.detail.map((d: { loc: string[] }) => d.loc).sort(), [
      ['body', 'cfg_scale'],
      ['body', 'steps'],
    ]);
    const ok = await postJson(
      `${api.url}/sdapi/v1/txt2img`,
      { prompt: 'x', steps: 2, width: 64, height: 64, seed: null, sampler_name: null, alwayson_scripts: {}, enable_hr: false, hr_upscaler: 'Latent' },
      key,
    );
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.ok(JSON.parse(ok.json.info).seed >= 0, 'seed null: random');
    const badSampler = await postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'x', sampler_name: 'Warp drive' }, key);
    assert.equal(badSampler.status, 422);
    assert.match(badSampler.json.detail, /sampler_name "Warp drive" is not a sampler here; use one of Euler a, Euler/);
  });

  test('an unknown checkpoint is a 404 listing the installed models', async () => {
    const r = await postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'x', override_settings: { sd_model_checkpoint: 'sdxl_base.safetensors' } }, key);
    assert.equal(r.status, 404);
    assert.match(r.json.detail, /Model "sdxl_base.safetensors" is not installed\. Available: tiny\./);
    assert.deepEqual(r.json.models, ['tiny']);
  });

  test('samplers lists A1111 names; progress answers when idle', async () => {
    const samplers = await getJson(`${api.url}/sdapi/v1/samplers`, key);
    assert.ok(samplers.json.some((s: { name: string }) => s.name === 'DPM++ 2M Karras'));
    const progress = await getJson(`${api.url}/sdapi/v1/progress`, key);
    assert.equal(progress.status, 200);
    assert.equal(progress.json.progress, 0);
    assert.equal(progress.json.current_image, null);
  });
});

describe('A1111 progress and interrupt while a job runs', () => {
  let api: ApiProcess;
  before(async () => {
    api = await startApi({ API_AUTH: 'off', DEVICES: 'noop:1', NOOP_STEP_MS: '150' });
  });
  after(() => api?.stop());

  test('/sdapi/v1/progress follows the running job; /sdapi/v1/interrupt cancels it', async () => {
    const running = postJson(`${api.url}/sdapi/v1/txt2img`, { prompt: 'slow', steps: 40, width: 64, height: 64 });
    let seen: Json;
    for (let i = 0; i < 100; i++) {
      const p = await getJson(`${api.url}/sdapi/v1/progress`);
      if (p.json.progress > 0) {
        seen = p.json;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(seen, 'progress rose above 0');
    assert.equal(seen.state.sampling_steps, 40);
    assert.ok(seen.state.sampling_step >= 1);
    assert.ok(seen.eta_relative > 0);
    const interrupted = await postJson(`${api.url}/sdapi/v1/interrupt`, {});
    assert.equal(interrupted.status, 200);
    const r = await running;
    assert.equal(r.status, 409);
    assert.match(r.json.detail, /cancelled/);
  });
});

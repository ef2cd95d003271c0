// The official `openai` npm client against the real API process, through baseURL: generations
// (b64_json and url), edits (multipart), models, and errors in OpenAI's shape.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { type ApiProcess, createKey, startApi, tempDataDir } from './support.js';

describe('OpenAI-compatible images API', () => {
  let api: ApiProcess;
  let client: OpenAI;

  before(async () => {
    const dataDir = tempDataDir();
    const key = createKey(dataDir, 'openai-client');
    api = await startApi({}, { dataDir });
    client = new OpenAI({ apiKey: key, baseURL: `${api.url}/v1`, maxRetries: 0 });
  });
  after(() => api?.stop());

  test('images.generate: b64_json images of the asked size, n of them', async () => {
    const r = await client.images.generate({ model: 'dall-e-2', prompt: 'a lighthouse at dusk', n: 2, size: '256x256', response_format: 'b64_json' });
    assert.equal(r.data?.length, 2);
    assert.equal(typeof r.created, 'number');
    for (const d of r.data ?? []) {
      const meta = await sharp(Buffer.from(d.b64_json!, 'base64')).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
    }
  });

  test('images.generate with response_format url: the URL serves the PNG from this server', async () => {
    const r = await client.images.generate({ prompt: 'a red bicycle', size: '64x64', response_format: 'url', model: 'tiny' });
    const url = r.data?.[0]?.url;
    assert.match(url ?? '', new RegExp(`^${api.url.replace(/[.:/]/g, '\\$&')}/files/[\\w-]+/0\\.png$`));
    const res = await fetch(url!);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.deepEqual([meta.width, meta.height], [64, 64]);
  });

  test('images.edit: a multipart image and prompt give an edited image', async () => {
    const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366cc' } })
      .png()
      .toBuffer();
    const r = await client.images.edit({ image: await toFile(input, 'input.png', { type: 'image/png' }), prompt: 'make it a sunset', size: '64x64' });
    assert.equal(r.data?.length, 1);
    const out = Buffer.from(r.data![0].b64_json!, 'base64');
    assert.deepEqual([(await sharp(out).metadata()).width, (await sharp(out).metadata()).height], [64, 64]);
    assert.notDeepEqual(out, input);
  });

  test('images.edit with a file that is not an image: 400 naming the field, in OpenAI shape', async () => {
    await assert.rejects(
      client.images.edit({ image: await toFile(Buffer.from('not an image at all'), 'x.png', { type: 'image/png' }), prompt: 'x' }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.match(err.message, /image is not a PNG, JPEG or WebP image/);
        assert.equal((err.error as { param?: string }).param, 'image');
        return true;
      },
    );
  });

  test('models.list lists the installed models; an unknown model is a 404 listing them', async () => {
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['tiny'],
    );
    await assert.rejects(client.images.generate({ prompt: 'x', model: 'no-such-model' }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.match(err.message, /Model "no-such-model" is not installed\. Available: tiny\./);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
  });

  test('a wrong type is a 400 naming the field', async () => {
    await assert.rejects(client.images.generate({ prompt: 'x', n: 'two' as unknown as number }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.match(err.message, /^400 n: /);
      assert.equal(err.param, 'n');
      return true;
    });
  });
});

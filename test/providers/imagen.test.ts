// The legacy Imagen provider (Google has shut Imagen down; it is only used for an explicit
// GOOGLE_IMAGE_MODEL=imagen-… id) end to end: the real @google/genai client talks to a local
// stand-in for Google's predict endpoint, so these tests see the exact request body the SDK sends and make
// the SDK parse replies shaped like Google's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { readTextChunks } from '../../src/diffusion/png.js';
import { GenerationAbortedError } from '../../src/diffusion/errors.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { googleImageConfigFromEnv } from '../../src/config/google.js';
import { ImagenProvider, type ImagenConfig } from '../../src/providers/imagen.js';
import { nearestAspectRatio } from '../../src/providers/imagen-request.js';
import { SILENTLY_WITHHELD } from '../../src/providers/imagen-decode.js';
import { ProviderError, UNKNOWN_SEED } from '../../src/providers/types.js';
import { standInColour, startGoogleStandIn, type GoogleStandIn, type ImagenReply } from '../support/google/index.js';

const FAST = 'imagen-4.0-fast-generate-001';

function request(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return { prompt: 'a lighthouse at dusk', seed: 1234, steps: 25, guidanceScale: 7.5, width: 640, height: 512, count: 1, ...over };
}

/** Short limits so failure paths finish in milliseconds. */
function config(standIn: GoogleStandIn, over: Partial<ImagenConfig> = {}): ImagenConfig {
  return {
    apiKey: standIn.apiKey,
    baseUrl: standIn.baseUrl,
    model: FAST,
    addWatermark: true,
    timeoutMs: 2_000,
    maxRetryMs: 3_000,
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    maxAttempts: 4,
    ...over,
  };
}

async function withStandIn(replies: ImagenReply[], fn: (s: GoogleStandIn) => Promise<void>, fallback?: ImagenReply) {
  const standIn = await startGoogleStandIn({ replies, ...(fallback ? { fallback } : {}) });
  try {
    await fn(standIn);
  } finally {
    await standIn.close();
  }
}

async function rejectsWith(p: Promise<unknown>, kind: ProviderError['kind']): Promise<ProviderError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
    assert.equal(err.kind, kind, `kind (${err.message})`);
    return err;
  }
  assert.fail(`expected a ${kind} ProviderError`);
}

async function pixel(png: Buffer): Promise<number[]> {
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return [data[0], data[1], data[2]];
}

// The SDK prints a one-time deprecation warning for generateImages; keep test output readable.
const realWarn = console.warn;
before(() => {
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('generateImages method is deprecated')) realWarn(...args);
  };
});
after(() => {
  console.warn = realWarn;
});

describe('the legacy Imagen settings (explicit imagen-… ids only)', () => {
  test('an imagen-… id selects the :predict path, with a warning that Google shut it down', () => {
    const { config, warnings } = googleImageConfigFromEnv({
      GOOGLE_API_KEY: ' k ',
      GOOGLE_IMAGE_MODEL: 'imagen-4.0-ultra-generate-001',
      GOOGLE_API_BASE_URL: 'http://127.0.0.1:9/',
      IMAGEN_PERSON_GENERATION: 'dont_allow',
      IMAGEN_SAFETY_FILTER_LEVEL: 'block_only_high',
      IMAGEN_ADD_WATERMARK: 'false',
      IMAGEN_TIMEOUT_MS: '1500',
      IMAGEN_MAX_RETRY_MS: '0',
    });
    assert.equal(config.api, 'imagen');
    assert.equal(config.apiKey, 'k');
    assert.equal(config.model, 'imagen-4.0-ultra-generate-001');
    assert.equal(config.baseUrl, 'http://127.0.0.1:9/');
    assert.equal(config.personGeneration, 'DONT_ALLOW');
    assert.equal(config.safetyFilterLevel, 'BLOCK_ONLY_HIGH');
    assert.equal(config.addWatermark, false);
    assert.equal(config.timeoutMs, 1500);
    assert.equal(config.maxRetryMs, 0);
    assert.equal(config.thinkingLevel, undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /imagen-4\.0-ultra-generate-001 is an Imagen model, which Google has shut down.*GOOGLE_IMAGE_MODEL=ultra .*gemini-3-pro-image/);
  });

  test('bad legacy values are a config error naming the variable', () => {
    for (const [name, value] of [
      ['IMAGEN_PERSON_GENERATION', 'everyone'],
      ['IMAGEN_SAFETY_FILTER_LEVEL', 'strict'],
      ['IMAGEN_ADD_WATERMARK', 'maybe'],
    ]) {
      assert.throws(
        () => googleImageConfigFromEnv({ [name]: value }),
        (err: Error) => err.message.includes(name),
        name,
      );
    }
  });
});

test('nearest aspect ratio on a log scale', () => {
  assert.equal(nearestAspectRatio(512, 512), '1:1');
  assert.equal(nearestAspectRatio(640, 512), '4:3');
  assert.equal(nearestAspectRatio(512, 640), '3:4');
  assert.equal(nearestAspectRatio(768, 512), '4:3'); // 1.5 is nearer 4:3 than 16:9 in log terms
  assert.equal(nearestAspectRatio(1024, 576), '16:9');
  assert.equal(nearestAspectRatio(512, 1024), '9:16');
  assert.equal(nearestAspectRatio(4096, 512), '16:9');
});

test('label names provider model and id', async () => {
  await withStandIn([], async (s) => {
    assert.equal(new ImagenProvider(config(s)).label, 'Imagen 4 Fast (imagen-4.0-fast-generate-001)');
    assert.equal(new ImagenProvider(config(s, { model: 'imagen-4.0-ultra-generate-001' })).label, 'Imagen 4 Ultra (imagen-4.0-ultra-generate-001)');
    assert.equal(new ImagenProvider(config(s)).id, 'imagen');
  });
});

test('images returned: the SDK request, and PNGs like the local engine writes', async () => {
  await withStandIn([], async (s) => {
    const provider = new ImagenProvider(config(s));
    const result = await provider.generate(request({ count: 2, negativePrompt: 'fog' }));

    assert.equal(s.requests.length, 1);
    const [call] = s.requests;
    assert.equal(call.method, 'POST');
    assert.equal(call.path, `/v1beta1/publishers/google/models/${FAST}:predict`);
    assert.equal(call.headers['x-goog-api-key'], 'test-key');
    assert.match(String(call.headers['user-agent']), /google-genai-sdk/);
    assert.deepEqual(call.body, {
      instances: [{ prompt: 'a lighthouse at dusk' }],
      parameters: { sampleCount: 2, aspectRatio: '4:3', includeRaiReason: true, outputOptions: { mimeType: 'image/png' } },
    });

    assert.equal(result.provider, 'imagen');
    assert.equal(result.model, FAST);
    assert.equal(result.scheduler, undefined);
    assert.deepEqual(result.filtered, []);
    assert.equal(result.truncatedTokens, 0);
    assert.ok(result.timings.totalMs > 0);
    assert.ok(result.notes.includes('aspect ratio 4:3 used for 640x512'), result.notes.join(' | '));
    assert.ok(result.notes.includes(`negative prompt ignored: not supported by ${FAST}`));
    assert.ok(result.notes.some((n) => n.startsWith('seed ignored')));
    assert.ok(result.notes.includes('steps, guidance scale ignored: Imagen sets its own'));

    assert.equal(result.images.length, 2);
    for (const [i, img] of result.images.entries()) {
      assert.equal(img.seed, UNKNOWN_SEED);
      assert.deepEqual([img.width, img.height], [80, 56]); // 1280x896 / 16: Imagen's own size, not the request's
      const meta = await sharp(img.png).metadata();
      assert.equal(meta.format, 'png');
      assert.deepEqual([meta.width, meta.height, meta.channels], [80, 56, 3]);
      const c = standInColour(undefined, i, 0);
      assert.deepEqual(await pixel(img.png), [c.r, c.g, c.b]);
      const params = readTextChunks(img.png).parameters;
      assert.equal(params, 'a lighthouse at dusk\nSteps: 0, Sampler: imagen, CFG scale: 0, Seed: -1, Size: 80x56, Model: imagen-4.0-fast-generate-001');
    }
  });
});

test('GOOGLE_API_BASE_URL and an explicit imagen id from the environment reach the SDK', async () => {
  await withStandIn([], async (s) => {
    const env = { GOOGLE_API_KEY: s.apiKey, GOOGLE_API_BASE_URL: s.baseUrl, IMAGEN_MODEL: 'imagen-4.0-generate-001', IMAGEN_PERSON_GENERATION: 'allow_all' };
    const result = await new ImagenProvider(googleImageConfigFromEnv(env).config).generate(request({ width: 1024, height: 576 }));
    assert.equal(result.model, 'imagen-4.0-generate-001');
    assert.deepEqual([result.images[0].width, result.images[0].height], [88, 48]);
    const [call] = s.predictCalls();
    assert.equal(call.path, '/v1beta1/publishers/google/models/imagen-4.0-generate-001:predict');
    assert.deepEqual((call.body as { parameters: object }).parameters, {
      sampleCount: 1,
      aspectRatio: '16:9',
      personGeneration: 'ALLOW_ALL',
      includeRaiReason: true,
      outputOptions: { mimeType: 'image/png' },
    });
  });
});

test('owner settings reach the request; seeds are honoured with the watermark off, one call per image', async () => {
  await withStandIn([], async (s) => {
    const provider = new ImagenProvider(
      config(s, {
        model: 'imagen-3.0-generate-001',
        personGeneration: 'ALLOW_ADULT' as ImagenConfig['personGeneration'],
        safetyFilterLevel: 'BLOCK_ONLY_HIGH' as ImagenConfig['safetyFilterLevel'],
        addWatermark: false,
      }),
    );
    const result = await provider.generate(request({ count: 2, width: 576, height: 1024, negativePrompt: 'fog', scheduler: 'ddim' }));
    const bodies = s.predictCalls().map((r) => r.body);
    assert.equal(bodies.length, 2);
    const seeds = bodies.map((b) => (b as { parameters: { seed: number } }).parameters.seed).sort((a, b) => a - b);
    assert.deepEqual(seeds, [1234, 1235]);
    const first = bodies.find((b) => (b as { parameters: { seed: number } }).parameters.seed === 1234);
    assert.deepEqual(first, {
      instances: [{ prompt: 'a lighthouse at dusk' }],
      parameters: {
        negativePrompt: 'fog',
        sampleCount: 1,
        aspectRatio: '9:16',
        seed: 1234,
        safetySetting: 'BLOCK_ONLY_HIGH',
        personGeneration: 'ALLOW_ADULT',
        includeRaiReason: true,
        outputOptions: { mimeType: 'image/png' },
        addWatermark: false,
      },
    });
    assert.deepEqual(
      result.images.map((i) => i.seed),
      [1234, 1235],
    );
    // The stand-in colours by seed, so each image really came from its own seed.
    for (const img of result.images) {
      const c = standInColour(img.seed, 0, 0);
      assert.deepEqual(await pixel(img.png), [c.r, c.g, c.b]);
    }
    assert.ok(!result.notes.some((n) => n.startsWith('negative prompt ignored')));
    assert.ok(!result.notes.some((n) => n.startsWith('seed ignored')));
    assert.ok(result.notes.includes('steps, guidance scale, scheduler ignored: Imagen sets its own'));
    assert.match(readTextChunks(result.images[1].png).parameters, /^a lighthouse at dusk\nNegative prompt: fog\n.*Seed: 1235, Size: 48x88/);
  });
});

test('Imagen 4 Ultra is asked one image per call', async () => {
  await withStandIn([], async (s) => {
    const result = await new ImagenProvider(config(s, { model: 'imagen-4.0-ultra-generate-001' })).generate(request({ count: 3 }));
    assert.equal(result.images.length, 3);
    const calls = s.predictCalls();
    assert.equal(calls.length, 3);
    for (const c of calls) assert.equal((c.body as { parameters: { sampleCount: number } }).parameters.sampleCount, 1);
    assert.equal(calls[0].path, '/v1beta1/publishers/google/models/imagen-4.0-ultra-generate-001:predict');
  });
});

test('some images filtered: the rest come back, each withheld one with its reason', async () => {
  const reason = 'Your current safety filter threshold filtered out 1 generated image. Support codes: 56562880';
  await withStandIn([{ kind: 'images', count: 1, filtered: [reason] }], async (s) => {
    const result = await new ImagenProvider(config(s)).generate(request({ count: 3 }));
    assert.equal(result.images.length, 1);
    assert.deepEqual(result.filtered, [
      { index: 1, reason },
      { index: 2, reason: SILENTLY_WITHHELD },
    ]);
  });
});

test("all images filtered: a filtered error with Google's reason", async () => {
  const reason = 'The image was filtered out because it violates Responsible AI guidelines. Support codes: 39322892';
  await withStandIn([{ kind: 'images', count: 0, filtered: [reason, reason] }], async (s) => {
    const err = await rejectsWith(new ImagenProvider(config(s)).generate(request({ count: 2 })), 'filtered');
    assert.equal(err.retryable, false);
    assert.ok(err.userMessage.includes(reason), err.userMessage);
    assert.ok(err.userMessage.includes('all 2 images'));
  });
});

test('a prompt refused by the filters (400) is a filtered error, not retried', async () => {
  const message =
    "Image generation failed with the following error: The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices.";
  await withStandIn([{ kind: 'error', httpStatus: 400, message }], async (s) => {
    const err = await rejectsWith(new ImagenProvider(config(s)).generate(request()), 'filtered');
    assert.ok(err.userMessage.includes('sensitive words'));
    assert.equal(s.predictCalls().length, 1);
  });
});

test('429 then success: retried after backoff', async () => {
  await withStandIn([{ kind: 'error', httpStatus: 429 }], async (s) => {
    const result = await new ImagenProvider(config(s)).generate(request());
    assert.equal(result.images.length, 1);
    assert.equal(s.predictCalls().length, 2);
  });
});

test("429 with Google's RetryInfo waits at least that long", async () => {
  await withStandIn([{ kind: 'error', httpStatus: 429, retryDelay: '0.25s' }], async (s) => {
    await new ImagenProvider(config(s)).generate(request());
    const [first, second] = s.predictCalls();
    assert.ok(second.at - first.at >= 240, `waited ${second.at - first.at} ms`);
  });
});

test('429 every time: a quota error once the attempts are spent', async () => {
  await withStandIn(
    [],
    async (s) => {
      const err = await rejectsWith(new ImagenProvider(config(s, { maxAttempts: 3 })).generate(request()), 'quota');
      assert.equal(err.retryable, true);
      assert.match(err.userMessage, /quota/i);
      assert.match(err.message, /RESOURCE_EXHAUSTED.*gave up after 3 attempts/);
      assert.equal(s.predictCalls().length, 3);
    },
    { kind: 'error', httpStatus: 429 },
  );
});

test('500s until giving up: bounded by attempts', async () => {
  await withStandIn(
    [],
    async (s) => {
      const err = await rejectsWith(new ImagenProvider(config(s, { maxAttempts: 3 })).generate(request()), 'server');
      assert.equal(err.retryable, true);
      assert.match(err.message, /Imagen 500 INTERNAL: Internal error encountered\. \(gave up after 3 attempts/);
      assert.equal(s.predictCalls().length, 3);
    },
    { kind: 'error', httpStatus: 500 },
  );
});

test('500s until giving up: bounded by the time budget', async () => {
  await withStandIn(
    [],
    async (s) => {
      const provider = new ImagenProvider(config(s, { maxAttempts: 1_000, timeoutMs: 100, maxRetryMs: 400, backoffInitialMs: 20, backoffMaxMs: 40 }), {
        random: () => 1,
      });
      const t0 = Date.now();
      await rejectsWith(provider.generate(request()), 'server');
      const elapsed = Date.now() - t0;
      assert.ok(elapsed <= 600, `took ${elapsed} ms`);
      const calls = s.predictCalls().length;
      assert.ok(calls >= 3 && calls <= 12, `${calls} calls`);
    },
    { kind: 'error', httpStatus: 503 },
  );
});

test('a slow response past the timeout is a timeout error', async () => {
  await withStandIn([{ kind: 'delay', ms: 3_000 }], async (s) => {
    const t0 = Date.now();
    const err = await rejectsWith(new ImagenProvider(config(s, { timeoutMs: 150, maxRetryMs: 0 })).generate(request()), 'timeout');
    assert.ok(Date.now() - t0 < 1_000);
    assert.equal(err.retryable, true);
    assert.match(err.userMessage, /did not answer in time \(150 ms per try\)/);
    assert.equal(s.predictCalls().length, 1);
  });
});

test('a slow response is retried within the budget', async () => {
  await withStandIn([{ kind: 'delay', ms: 3_000 }], async (s) => {
    const result = await new ImagenProvider(config(s, { timeoutMs: 150, maxRetryMs: 1_000 })).generate(request());
    assert.equal(result.images.length, 1);
    assert.equal(s.predictCalls().length, 2);
  });
});

test('garbage JSON is a malformed error, not retried', async () => {
  await withStandIn([{ kind: 'garbage' }], async (s) => {
    const err = await rejectsWith(new ImagenProvider(config(s)).generate(request()), 'malformed');
    assert.equal(err.retryable, false);
    assert.equal(s.predictCalls().length, 1);
  });
});

test('well-formed JSON with the wrong content is malformed too', async () => {
  const replies: ImagenReply[] = [
    { kind: 'json', body: { predictions: [{ bytesBase64Encoded: Buffer.from('not an image').toString('base64'), mimeType: 'image/png' }] } },
    { kind: 'json', body: { predictions: 5 } },
    { kind: 'json', body: { predictions: [{ bytesBase64Encoded: 42 }] } },
    { kind: 'json', body: { predictions: [{ mimeType: 'image/png' }] } },
  ];
  await withStandIn(replies, async (s) => {
    const provider = new ImagenProvider(config(s));
    for (const r of replies) await rejectsWith(provider.generate(request()), 'malformed').catch((e) => assert.fail(`${JSON.stringify(r)}: ${e}`));
    assert.equal(s.predictCalls().length, replies.length);
  });
});

test('JPEG replies are re-encoded as PNG', async () => {
  await withStandIn([{ kind: 'images', format: 'jpeg' }], async (s) => {
    const result = await new ImagenProvider(config(s)).generate(request({ width: 512, height: 512 }));
    assert.equal((await sharp(result.images[0].png).metadata()).format, 'png');
    assert.deepEqual([result.images[0].width, result.images[0].height], [64, 64]);
  });
});

test('an invalid key is an auth error, not retried', async () => {
  await withStandIn([], async (s) => {
    const err = await rejectsWith(new ImagenProvider({ ...config(s), apiKey: 'wrong' }).generate(request()), 'auth');
    assert.equal(err.retryable, false);
    assert.match(err.userMessage, /GOOGLE_API_KEY/);
    assert.match(err.message, /API key not valid/);
    assert.equal(s.requests.length, 1);
    assert.equal(s.requests[0].headers['x-goog-api-key'], 'wrong');
  });
});

test('a missing key is an auth error before any request', async () => {
  await withStandIn([], async (s) => {
    const { apiKey: _unused, ...noKey } = config(s);
    const provider = new ImagenProvider(noKey);
    assert.equal(provider.configured, false);
    const err = await rejectsWith(provider.generate(request()), 'auth');
    assert.match(err.userMessage, /GOOGLE_API_KEY/);
    assert.equal(s.requests.length, 0);
  });
});

test('an unknown model is a config error', async () => {
  await withStandIn([{ kind: 'error', httpStatus: 404 }], async (s) => {
    const err = await rejectsWith(new ImagenProvider(config(s, { model: 'imagen-9.9-gone' })).generate(request()), 'config');
    assert.match(err.userMessage, /imagen-9\.9-gone.*GOOGLE_IMAGE_MODEL/);
  });
});

test('an unreachable service is a server error after retries', async () => {
  const s = await startGoogleStandIn();
  await s.close();
  const err = await rejectsWith(new ImagenProvider(config(s, { maxAttempts: 2 })).generate(request()), 'server');
  assert.equal(err.retryable, true);
  assert.match(err.message, /gave up after 2 attempts/);
});

test('image-to-image and bad counts are refused up front', async () => {
  await withStandIn([], async (s) => {
    const provider = new ImagenProvider(config(s));
    const img2img = request({ initImage: new Uint8Array([1, 2, 3]), strength: 0.5 });
    assert.match(provider.unsupported(img2img) ?? '', /image-to-image/);
    assert.equal(provider.unsupported(request()), undefined);
    await rejectsWith(provider.generate(img2img), 'config');
    await rejectsWith(provider.generate(request({ count: 5 })), 'config');
    assert.equal(s.requests.length, 0);
  });
});

test('cancelling stops a pending call and its retries', async () => {
  await withStandIn(
    [],
    async (s) => {
      const controller = new AbortController();
      const pending = new ImagenProvider(config(s, { backoffInitialMs: 5_000, backoffMaxMs: 5_000, maxRetryMs: 20_000 })).generate(request(), {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 100);
      const t0 = Date.now();
      await assert.rejects(pending, GenerationAbortedError);
      assert.ok(Date.now() - t0 < 1_000);
      assert.equal(s.predictCalls().length, 1);
    },
    { kind: 'error', httpStatus: 503 },
  );
});

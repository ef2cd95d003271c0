// The Gemini image provider (the cloud provider) end to end: the real, unmodified @google/genai
// client talks to the local Google stand-in, so these tests see the exact generateContent body
// the SDK sends and make the SDK parse replies shaped like Google's: image parts, text-only
// answers, blocked prompts, IMAGE_SAFETY stops, 429 with RetryInfo, 5xx.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { googleImageConfigFromEnv, type GoogleImageConfig } from '../../src/config/google.js';
import { readTextChunks } from '../../src/diffusion/png.js';
import { GenerationAbortedError } from '../../src/diffusion/errors.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { cloudModelLabel, createCloudProvider, GeminiImageProvider, ImagenProvider } from '../../src/providers/cloud.js';
import { nearestRatio, sizeFor } from '../../src/providers/gemini-models.js';
import { ProviderError, UNKNOWN_SEED } from '../../src/providers/types.js';
import { geminiSize, standInColour, startGoogleStandIn, type GoogleStandIn, type ImagenReply } from '../support/google/index.js';

const FLASH = 'gemini-3.1-flash-image';

function request(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return { prompt: 'a lighthouse at dusk', seed: 1234, steps: 25, guidanceScale: 7.5, width: 640, height: 512, count: 1, ...over };
}

/** Short limits so failure paths finish in milliseconds. */
function config(standIn: GoogleStandIn, over: Partial<GoogleImageConfig> = {}): GoogleImageConfig {
  return {
    api: 'gemini',
    apiKey: standIn.apiKey,
    baseUrl: standIn.baseUrl,
    model: FLASH,
    thinkingLevel: 'MINIMAL',
    addWatermark: true,
    timeoutMs: 2_000,
    maxRetryMs: 3_000,
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    maxAttempts: 4,
    ...over,
  };
}

async function withStandIn(replies: ImagenReply[], fn: (s: GoogleStandIn) => Promise<void>) {
  const standIn = await startGoogleStandIn({ replies });
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

describe('GOOGLE_IMAGE_MODEL and IMAGEN_MODEL', () => {
  test("defaults to fast: gemini-3.1-flash-image at thinking level MINIMAL (Google's replacement for Imagen 4 Fast)", () => {
    const { config, warnings } = googleImageConfigFromEnv({});
    assert.deepEqual([config.api, config.model, config.thinkingLevel, config.apiKey], ['gemini', FLASH, 'MINIMAL', undefined]);
    assert.deepEqual(warnings, []);
  });

  test("fast, standard and ultra map as in Google's migration table; a full id is taken as is", () => {
    const pick = (v: string) => googleImageConfigFromEnv({ GOOGLE_IMAGE_MODEL: v }).config;
    assert.deepEqual([pick('fast').model, pick('fast').thinkingLevel], [FLASH, 'MINIMAL']);
    assert.deepEqual([pick('standard').model, pick('standard').thinkingLevel], [FLASH, 'HIGH']);
    assert.deepEqual([pick('Ultra').model, pick('ultra').thinkingLevel], ['gemini-3-pro-image', undefined]);
    assert.deepEqual([pick('gemini-2.5-flash-image').model, pick('gemini-2.5-flash-image').thinkingLevel], ['gemini-2.5-flash-image', undefined]);
    const high = googleImageConfigFromEnv({ GOOGLE_IMAGE_MODEL: 'gemini-3-pro-image', GOOGLE_IMAGE_THINKING_LEVEL: 'high' }).config;
    assert.equal(high.thinkingLevel, 'HIGH');
  });

  test('IMAGEN_MODEL=fast still works, with a warning to rename it; GOOGLE_IMAGE_MODEL wins over it', () => {
    const old = googleImageConfigFromEnv({ IMAGEN_MODEL: 'fast', GOOGLE_API_KEY: 'k' });
    assert.deepEqual([old.config.api, old.config.model, old.config.thinkingLevel], ['gemini', FLASH, 'MINIMAL']);
    assert.equal(old.warnings.length, 1);
    assert.match(old.warnings[0], /IMAGEN_MODEL is deprecated: rename it to GOOGLE_IMAGE_MODEL/);
    const both = googleImageConfigFromEnv({ IMAGEN_MODEL: 'fast', GOOGLE_IMAGE_MODEL: 'ultra' });
    assert.equal(both.config.model, 'gemini-3-pro-image');
    assert.match(both.warnings[0], /IMAGEN_MODEL is deprecated and ignored/);
  });

  test('Vertex AI: express mode with the key, or a project and location', () => {
    const express = googleImageConfigFromEnv({ GOOGLE_GENAI_USE_VERTEXAI: 'true', GOOGLE_API_KEY: 'k' }).config;
    assert.deepEqual(express.vertex, {});
    const project = googleImageConfigFromEnv({ GOOGLE_GENAI_USE_VERTEXAI: 'true', GOOGLE_CLOUD_PROJECT: 'p' }).config;
    assert.deepEqual(project.vertex, { project: 'p', location: 'global' });
    assert.equal(createCloudProvider(project).configured, true);
    assert.equal(createCloudProvider(googleImageConfigFromEnv({}).config).configured, false);
  });

  test('bad values name the variable', () => {
    for (const [name, value] of [
      ['GOOGLE_IMAGE_MODEL', 'gemini?x=1'],
      ['IMAGEN_MODEL', 'imagen?x=1'],
      ['GOOGLE_IMAGE_THINKING_LEVEL', 'deep'],
      ['IMAGEN_TIMEOUT_MS', 'soon'],
      ['GOOGLE_API_BASE_URL', 'not a url'],
      ['GOOGLE_GENAI_USE_VERTEXAI', 'maybe'],
    ]) {
      assert.throws(
        () => googleImageConfigFromEnv({ [name]: value }),
        (err: Error) => err.message.includes(name),
        name,
      );
    }
  });

  test('the factory: Gemini for Gemini ids, the legacy Imagen provider only for an explicit imagen id', () => {
    assert.ok(createCloudProvider(googleImageConfigFromEnv({ GOOGLE_IMAGE_MODEL: 'fast' }).config) instanceof GeminiImageProvider);
    assert.ok(createCloudProvider(googleImageConfigFromEnv({ GOOGLE_IMAGE_MODEL: 'imagen-4.0-generate-001' }).config) instanceof ImagenProvider);
    assert.equal(cloudModelLabel(FLASH), 'Gemini 3.1 Flash Image (gemini-3.1-flash-image)');
    assert.equal(cloudModelLabel('imagen-4.0-fast-generate-001'), 'Imagen 4 Fast (imagen-4.0-fast-generate-001)');
  });
});

test('nearest aspect ratio (log scale) and size per model', () => {
  const flash = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9', '1:4', '4:1', '1:8', '8:1'];
  assert.equal(nearestRatio(640, 512, flash), '5:4');
  assert.equal(nearestRatio(1024, 576, flash), '16:9');
  assert.equal(nearestRatio(2048, 256, flash), '8:1');
  assert.equal(nearestRatio(2048, 256, flash.slice(0, 10)), '21:9');
  assert.equal(sizeFor(512, 512, ['512', '1K', '2K', '4K']), '512');
  assert.equal(sizeFor(640, 512, ['512', '1K', '2K', '4K']), '1K');
  assert.equal(sizeFor(1536, 1536, ['1K', '2K', '4K']), '2K');
  assert.equal(sizeFor(2048, 2048, ['1K']), '1K');
});

test('one call per image, all sent as the SDK sends them; PNGs like the local engine, no seed', async () => {
  await withStandIn([], async (s) => {
    const provider = new GeminiImageProvider(config(s), { concurrency: 4 });
    assert.equal(provider.label, 'Gemini 3.1 Flash Image (gemini-3.1-flash-image), thinking MINIMAL');
    const result = await provider.generate(request({ count: 3, negativePrompt: 'fog', scheduler: 'euler' }));
    const calls = s.generateCalls();
    assert.equal(calls.length, 3);
    for (const call of calls) {
      assert.equal(call.path, '/v1beta/models/gemini-3.1-flash-image:generateContent');
      assert.equal(call.headers['x-goog-api-key'], s.apiKey);
      assert.deepEqual(call.body, {
        contents: [{ role: 'user', parts: [{ text: 'a lighthouse at dusk' }] }],
        generationConfig: {
          responseModalities: ['IMAGE'],
          candidateCount: 1,
          thinkingConfig: { thinkingLevel: 'MINIMAL' },
          imageConfig: { aspectRatio: '5:4' },
        },
      });
    }
    assert.equal(result.provider, 'imagen');
    assert.equal(result.model, FLASH);
    assert.equal(result.images.length, 3);
    const [w, h] = geminiSize('5:4');
    for (const img of result.images) {
      assert.equal(img.seed, UNKNOWN_SEED);
      assert.deepEqual([img.width, img.height], [w / 16, h / 16]);
      const meta = await sharp(img.png).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(
        readTextChunks(img.png).parameters,
        `a lighthouse at dusk\nSteps: 0, Sampler: gemini, CFG scale: 0, Seed: -1, Size: ${w / 16}x${h / 16}, Model: gemini-3.1-flash-image`,
      );
    }
    // Each call is its own image (the stand-in colours them by call).
    const colours = await Promise.all(result.images.map((i) => pixel(i.png)));
    assert.equal(new Set(colours.map(String)).size, 3);
    assert.deepEqual(result.notes, [
      'aspect ratio 5:4 at 1K used for 640x512',
      'seed: none, Gemini image models take no seed',
      'negative prompt ignored: Gemini image models have none',
      'steps, guidance scale, scheduler ignored: Gemini sets its own',
    ]);
    assert.deepEqual(result.usage, { calls: 3, promptTokens: 36, outputTokens: 3870, thoughtsTokens: 120, totalTokens: 4026 });
    assert.deepEqual(result.filtered, []);
  });
});

test('a large request asks for 2K; Gemini 3 Pro gets no thinking level unless set; Vertex express mode uses its path', async () => {
  await withStandIn([], async (s) => {
    await new GeminiImageProvider(config(s, { model: 'gemini-3-pro-image', thinkingLevel: undefined })).generate(request({ width: 1536, height: 1536 }));
    await new GeminiImageProvider(config(s, { vertex: {} })).generate(request());
    const [pro, vertex] = s.generateCalls();
    assert.deepEqual((pro.body as { generationConfig: object }).generationConfig, {
      responseModalities: ['IMAGE'],
      candidateCount: 1,
      imageConfig: { aspectRatio: '1:1', imageSize: '2K' },
    });
    assert.equal(vertex.path, '/v1beta1/publishers/google/models/gemini-3.1-flash-image:generateContent');
  });
});

test('text beside the image and thought images are skipped; a JPEG becomes a PNG', async () => {
  await withStandIn([{ kind: 'image', text: 'Here is your lighthouse.', thought: true, format: 'jpeg' }], async (s) => {
    const result = await new GeminiImageProvider(config(s)).generate(request({ width: 512, height: 512 }));
    assert.equal(result.images.length, 1);
    assert.equal((await sharp(result.images[0].png).metadata()).format, 'png');
    assert.deepEqual([result.images[0].width, result.images[0].height], [32, 32], 'the final image, not the 8×8 thought');
  });
});

test("text-only answers and refusals withhold that image with the model's reason; none at all fails with the reasons", async () => {
  await withStandIn(
    [
      { kind: 'text', text: "I can't draw that, but here is a poem." },
      { kind: 'image' },
      { kind: 'stopped', finishReason: 'IMAGE_SAFETY', message: 'Unsafe image.' },
    ],
    async (s) => {
      const result = await new GeminiImageProvider(config(s), { concurrency: 1 }).generate(request({ count: 3 }));
      assert.equal(result.images.length, 1);
      assert.deepEqual(result.filtered, [
        { index: 0, reason: "the model answered with text only: “I can't draw that, but here is a poem.”" },
        // The SDK's Developer-API converter drops candidates[].finishMessage, so the reason is the finishReason alone.
        { index: 2, reason: 'the model stopped without an image (IMAGE_SAFETY)' },
      ]);
      assert.equal(result.usage?.calls, 3);
    },
  );
  await withStandIn([{ kind: 'blocked', reason: 'SAFETY', message: 'The prompt was blocked.' }], async (s) => {
    const err = await rejectsWith(new GeminiImageProvider(config(s)).generate(request()), 'filtered');
    assert.equal(
      err.userMessage,
      'Gemini 3.1 Flash Image (gemini-3.1-flash-image) drew no image: Google blocked the prompt (SAFETY: The prompt was blocked.).',
    );
    assert.equal(err.retryable, false);
    assert.deepEqual(err.usage, { calls: 1, promptTokens: 12, outputTokens: 0, thoughtsTokens: 0, totalTokens: 12 });
    assert.equal(s.generateCalls().length, 1, 'a refusal is not retried');
  });
});

test('an edit sends the input image with the prompt', async () => {
  await withStandIn([], async (s) => {
    const input = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 100, b: 0 } } })
      .jpeg()
      .toBuffer();
    const result = await new GeminiImageProvider(config(s)).generate(request({ initImage: input, strength: 0.6, width: 640, height: 480 }));
    const parts = (s.generateCalls()[0].body as { contents: { parts: { text?: string; inlineData?: { mimeType: string; data: string } }[] }[] }).contents[0]
      .parts;
    assert.equal(parts[0].text, 'a lighthouse at dusk');
    assert.equal(parts[1].inlineData?.mimeType, 'image/png');
    assert.deepEqual((await sharp(Buffer.from(parts[1].inlineData!.data, 'base64')).metadata()).width, 40);
    const [r, g, b] = await pixel(result.images[0].png);
    assert.ok(Math.abs(r - 55) < 6 && Math.abs(g - 155) < 6 && b > 245, `the input's negative, got ${[r, g, b]}`);
    assert.ok(result.notes.includes('steps, guidance scale, strength ignored: Gemini sets its own'));
  });
});

test('429 with RetryInfo waits as Google asked, then succeeds; 5xx is retried within the budget', async () => {
  await withStandIn(
    [
      { kind: 'error', httpStatus: 429, retryDelay: '0.2s' },
      { kind: 'error', httpStatus: 503 },
    ],
    async (s) => {
      const t0 = Date.now();
      const result = await new GeminiImageProvider(config(s), { random: () => 0 }).generate(request());
      assert.equal(result.images.length, 1);
      const calls = s.generateCalls();
      assert.equal(calls.length, 3);
      assert.ok(calls[1].at - calls[0].at >= 190, `waited ${calls[1].at - calls[0].at} ms after the 429`);
      assert.ok(Date.now() - t0 < 2_000);
      const c = standInColour(undefined, 0, 2);
      assert.deepEqual(await pixel(result.images[0].png), [c.r, c.g, c.b]);
    },
  );
});

test('a quota that stays used up gives up with a quota error; a 500 that stays gives up with a server error', async () => {
  await withStandIn(Array(10).fill({ kind: 'error', httpStatus: 429 }), async (s) => {
    const err = await rejectsWith(new GeminiImageProvider(config(s, { maxAttempts: 2 })).generate(request()), 'quota');
    assert.equal(err.userMessage, 'The Gemini quota is used up for now. Try again later.');
    assert.match(err.message, /gave up after 2 attempts/);
  });
  await withStandIn(Array(10).fill({ kind: 'error', httpStatus: 500 }), async (s) => {
    const err = await rejectsWith(new GeminiImageProvider(config(s, { maxAttempts: 3 })).generate(request()), 'server');
    assert.match(err.userMessage, /Gemini had a server error \(500\)/);
    assert.equal(s.generateCalls().length, 3);
  });
});

test('a wrong key is an auth error at once; no key at all never calls Google; an unknown model names GOOGLE_IMAGE_MODEL', async () => {
  await withStandIn([], async (s) => {
    const err = await rejectsWith(new GeminiImageProvider(config(s, { apiKey: 'wrong' })).generate(request()), 'auth');
    assert.match(err.userMessage, /GOOGLE_API_KEY is invalid/);
    const { apiKey: _none, ...noKey } = config(s);
    const off = new GeminiImageProvider(noKey);
    assert.equal(off.configured, false);
    await rejectsWith(off.generate(request()), 'auth');
    assert.equal(s.requests.length, 1);
  });
  await withStandIn([{ kind: 'error', httpStatus: 404 }], async (s) => {
    const err = await rejectsWith(new GeminiImageProvider(config(s, { model: 'gemini-9-gone' })).generate(request()), 'config');
    assert.match(err.userMessage, /gemini-9-gone.*GOOGLE_IMAGE_MODEL/);
  });
});

test('cancelling aborts the calls in flight; the call queue holds no more than `concurrency` at once', async () => {
  await withStandIn(
    [
      { kind: 'delay', ms: 300 },
      { kind: 'delay', ms: 300 },
      { kind: 'delay', ms: 300 },
    ],
    async (s) => {
      const provider = new GeminiImageProvider(config(s), { concurrency: 2 });
      const t0 = Date.now();
      await provider.generate(request({ count: 3 }));
      // Two at once, then the third: about 2 × 300 ms.
      assert.ok(Date.now() - t0 >= 550, `took ${Date.now() - t0} ms`);
      const at = s.generateCalls().map((c) => c.at);
      assert.ok(at[2] - at[0] >= 250, 'the third call waited for a free slot');
    },
  );
  await withStandIn([{ kind: 'delay', ms: 5_000 }], async (s) => {
    const controller = new AbortController();
    const p = new GeminiImageProvider(config(s, { timeoutMs: 10_000, maxRetryMs: 10_000 })).generate(request(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const t0 = Date.now();
    await assert.rejects(p, (err) => err instanceof GenerationAbortedError);
    assert.ok(Date.now() - t0 < 2_000);
  });
});

test('a reply that is not JSON, or has the wrong shape, is a malformed error', async () => {
  await withStandIn([{ kind: 'garbage', body: '{"candidates": [' }], async (s) => {
    await rejectsWith(new GeminiImageProvider(config(s)).generate(request()), 'malformed');
  });
  await withStandIn([{ kind: 'json', body: { candidates: 'nope' } }], async (s) => {
    await rejectsWith(new GeminiImageProvider(config(s)).generate(request()), 'malformed');
  });
});

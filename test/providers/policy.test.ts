// The provider policy as a table: each row is a situation and the provider (or refusal) it gets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideProvider,
  envPolicySource,
  fallbackAfterFailure,
  imagenCapProblem,
  providerRoutingFromEnv,
  utcDayStart,
  type RouteDecision,
  type RouteFacts,
} from '../../src/providers/policy.js';

const MIN = 60_000;

function facts(over: Partial<RouteFacts> = {}): RouteFacts {
  return {
    policy: 'fallback',
    imagenConfigured: true,
    localDevices: 1,
    localWaitMs: 0,
    fallbackWaitMs: 2 * MIN,
    images: 1,
    usage: { guild: 0, all: 0 },
    caps: { guild: null, owner: null },
    ...over,
  };
}

const where = (d: RouteDecision) => ('refused' in d ? 'refused' : d.provider);

describe('decideProvider', () => {
  const rows: [string, Partial<RouteFacts>, 'local' | 'imagen' | 'refused', RegExp?][] = [
    ['local: a device exists', { policy: 'local' }, 'local'],
    ['local: long wait stays local', { policy: 'local', localWaitMs: 60 * MIN }, 'local'],
    ['local: 🔄 on an Imagen result stays local', { policy: 'local', askedForImagen: true }, 'local'],
    ['local: no device', { policy: 'local', localDevices: 0 }, 'refused', /no local device.*provider policy `local`.*`fallback` or `cloud`/],
    ['cloud: always', { policy: 'cloud' }, 'imagen'],
    ['cloud: even with an idle device', { policy: 'cloud', localDevices: 4 }, 'imagen'],
    ['cloud: no key means local', { policy: 'cloud', imagenConfigured: false }, 'local'],
    [
      'cloud: no key and no device',
      { policy: 'cloud', imagenConfigured: false, localDevices: 0 },
      'refused',
      /no local device and the cloud provider is off \(GOOGLE_API_KEY is not set\)/,
    ],
    ['cloud: image-to-image runs locally', { policy: 'cloud', imagenUnsupported: "Imagen can't start from an image." }, 'local'],
    [
      'cloud: image-to-image without a device',
      { policy: 'cloud', imagenUnsupported: "Imagen can't start from an image.", localDevices: 0 },
      'refused',
      /can't start from an image\. This bot has no local device/,
    ],
    [
      'cloud: server cap reached',
      { policy: 'cloud', usage: { guild: 10, all: 10 }, caps: { guild: 10, owner: null } },
      'refused',
      /This server's cloud allowance for today is used up \(10 images; it resets at 00:00 UTC\)/,
    ],
    ['cloud: owner cap reached', { policy: 'cloud', usage: { guild: 0, all: 50 }, caps: { guild: null, owner: 50 } }, 'refused', /The bot's cloud allowance/],
    ['cloud: just under the cap', { policy: 'cloud', images: 2, usage: { guild: 8, all: 8 }, caps: { guild: 10, owner: 10 } }, 'imagen'],
    [
      'cloud: the job would pass the cap',
      { policy: 'cloud', images: 4, usage: { guild: 8, all: 8 }, caps: { guild: 10, owner: null } },
      'refused',
      /has 2 images left of 10, and this job needs 4/,
    ],
    ['fallback: short wait stays local', { localWaitMs: MIN }, 'local'],
    ['fallback: wait exactly at the threshold stays local', { localWaitMs: 2 * MIN }, 'local'],
    ['fallback: long wait goes to Imagen', { localWaitMs: 2 * MIN + 1 }, 'imagen'],
    ['fallback: no device goes to Imagen', { localDevices: 0 }, 'imagen'],
    ['fallback: 🔄/V on an Imagen result go to Imagen', { askedForImagen: true }, 'imagen'],
    ['fallback: no key stays local', { imagenConfigured: false, localWaitMs: 60 * MIN }, 'local'],
    ['fallback: no key, no device', { imagenConfigured: false, localDevices: 0 }, 'refused', /GOOGLE_API_KEY/],
    ['fallback: upscale runs locally', { imagenUnsupported: 'Upscaling runs on the local engine only.', localWaitMs: 60 * MIN }, 'local'],
    ['fallback: cap reached with a device: waits locally', { localWaitMs: 60 * MIN, usage: { guild: 5, all: 5 }, caps: { guild: 5, owner: null } }, 'local'],
    ['fallback: cap reached, no device', { localDevices: 0, usage: { guild: 5, all: 5 }, caps: { guild: 5, owner: null } }, 'refused', /used up/],
  ];
  for (const [name, over, expected, message] of rows) {
    test(name, () => {
      const d = decideProvider(facts(over));
      assert.equal(where(d), expected, JSON.stringify(d));
      if (message) assert.match('refused' in d ? d.refused : '', message);
    });
  }

  test('Imagen reasons say why it was chosen', () => {
    assert.deepEqual(decideProvider(facts({ policy: 'cloud' })), { provider: 'imagen', reason: 'policy' });
    assert.deepEqual(decideProvider(facts({ localDevices: 0 })), { provider: 'imagen', reason: 'no_local_device' });
    assert.deepEqual(decideProvider(facts({ localWaitMs: 10 * MIN })), { provider: 'imagen', reason: 'long_wait' });
    assert.deepEqual(decideProvider(facts({ askedForImagen: true })), { provider: 'imagen', reason: 'asked' });
  });

  test('a fallback job kept local by the cap carries a note saying so', () => {
    const d = decideProvider(facts({ localWaitMs: 60 * MIN, usage: { guild: 5, all: 5 }, caps: { guild: 5, owner: null } }));
    assert.ok('provider' in d && d.provider === 'local');
    assert.match(d.note ?? '', /^This server's cloud allowance for today is used up .* So this job waits for the local queue\.$/);
  });
});

describe('imagenCapProblem', () => {
  test('no caps, no problem', () => assert.equal(imagenCapProblem(4, { guild: 1e6, all: 1e6 }, { guild: null, owner: null }), undefined));
  test("the owner's cap counts every guild; the server's only its own", () => {
    assert.equal(imagenCapProblem(1, { guild: 0, all: 9 }, { guild: 5, owner: 10 }), undefined);
    assert.match(imagenCapProblem(2, { guild: 0, all: 9 }, { guild: 5, owner: 10 }) ?? '', /^The bot's .* 1 image left of 10/);
    assert.match(imagenCapProblem(1, { guild: 5, all: 5 }, { guild: 5, owner: 10 }) ?? '', /^This server's .* used up \(5 images/);
  });
});

describe('fallbackAfterFailure', () => {
  const base = { policy: 'fallback' as const, imagenConfigured: true, images: 2, usage: { guild: 0, all: 0 }, caps: { guild: null, owner: null } };
  test('policy fallback with Imagen on: re-run on Imagen', () => assert.equal(fallbackAfterFailure(base), true));
  test('other policies: no', () => {
    assert.equal(fallbackAfterFailure({ ...base, policy: 'local' }), false);
    assert.equal(fallbackAfterFailure({ ...base, policy: 'cloud' }), false);
  });
  test('no key, image-to-image, or over the cap: no', () => {
    assert.equal(fallbackAfterFailure({ ...base, imagenConfigured: false }), false);
    assert.equal(fallbackAfterFailure({ ...base, imagenUnsupported: 'no' }), false);
    assert.equal(fallbackAfterFailure({ ...base, usage: { guild: 9, all: 9 }, caps: { guild: 10, owner: null } }), false);
  });
});

describe('environment', () => {
  test('defaults: local, no owner cap, 120 s threshold, 2 calls at once', () => {
    assert.deepEqual(providerRoutingFromEnv({}), { policy: 'local', ownerDailyCap: null, fallbackWaitMs: 120_000, concurrency: 2 });
  });
  test('values, case-insensitive policy, empty means unset', () => {
    assert.deepEqual(providerRoutingFromEnv({ IMAGE_PROVIDER: ' Fallback ', IMAGEN_DAILY_CAP: '200', IMAGEN_FALLBACK_WAIT_S: '30', IMAGEN_CONCURRENCY: '' }), {
      policy: 'fallback',
      ownerDailyCap: 200,
      fallbackWaitMs: 30_000,
      concurrency: 2,
    });
  });
  test('IMAGE_PROVIDER=cloud, and the old value imagen still reads as cloud', () => {
    assert.equal(providerRoutingFromEnv({ IMAGE_PROVIDER: 'cloud' }).policy, 'cloud');
    assert.equal(providerRoutingFromEnv({ IMAGE_PROVIDER: ' Imagen ' }).policy, 'cloud');
  });
  test('bad values name the variable', () => {
    assert.throws(
      () => providerRoutingFromEnv({ IMAGE_PROVIDER: 'gpu', IMAGEN_DAILY_CAP: '-1' }),
      (e: Error) => {
        assert.match(e.message, /IMAGE_PROVIDER: must be one of local, fallback, cloud/);
        assert.match(e.message, /IMAGEN_DAILY_CAP: must be at least 0/);
        return true;
      },
    );
  });
  test('the env-only source gives every guild the default', () => {
    const source = envPolicySource({ provider: 'fallback', imagenDailyCap: 7 });
    assert.deepEqual(source.policyFor('123456789012345678'), { provider: 'fallback', imagenDailyCap: 7 });
    assert.deepEqual(source.policyFor(null), { provider: 'fallback', imagenDailyCap: 7 });
  });
  test('the day starts at midnight UTC', () => {
    const t = Date.UTC(2025, 4, 6, 23, 59, 59);
    assert.equal(utcDayStart(t), Date.UTC(2025, 4, 6));
    assert.equal(utcDayStart(Date.UTC(2025, 4, 7)), Date.UTC(2025, 4, 7));
  });
});

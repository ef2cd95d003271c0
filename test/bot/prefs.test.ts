// Personal defaults without a bot: the store round-trips and validates, and parseImagineOptions
// applies them under explicit options and within the server's limits.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImagineOptions } from '../../src/bot/imagine-options.js';
import { ModelCatalog } from '../../src/bot/model-catalog.js';
import type { GuildLimits } from '../../src/bot/limits.js';
import { openDatabase } from '../../src/store/db.js';
import { PrefsStore } from '../../src/store/prefs.js';
import { PendingEditStore, PENDING_EDIT_TTL_MS } from '../../src/store/pending-edits.js';
import { tinyModel } from '../support/tiny-models.js';

const limits: GuildLimits = { maxSteps: 50, maxSide: 256, maxCount: 2, maxGuidance: 20 };
let catalog: ModelCatalog;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prefs-models-'));
  symlinkSync(await tinyModel(), join(dir, 'tiny'));
  catalog = new ModelCatalog(dir);
});

test('PrefsStore keeps each user’s defaults, refuses bad ones, and forgets them when emptied', () => {
  const db = openDatabase(mkdtempSync(join(tmpdir(), 'prefs-db-')));
  const problems: string[] = [];
  const store = new PrefsStore(db, (_u, p) => problems.push(p));
  assert.deepEqual(store.get('alice'), {});
  store.set('alice', { count: 3, remix: true, negative: 'blurry' });
  assert.deepEqual(store.get('alice'), { count: 3, remix: true, negative: 'blurry' });
  assert.deepEqual(store.get('bob'), {});
  assert.throws(() => store.set('alice', { count: 9 }));
  assert.deepEqual(store.set('alice', { count: 3, remix: undefined }), { count: 3 });
  store.set('alice', {});
  assert.equal((db.prepare('SELECT count(*) AS n FROM user_prefs').get() as { n: number }).n, 0);
  // A row that no longer fits reads as no preferences, with a problem reported.
  db.prepare('INSERT INTO user_prefs (user_id, prefs_json, updated_at) VALUES (?, ?, 0)').run('carol', '{"count":"many"}');
  assert.deepEqual(store.get('carol'), {});
  assert.equal(problems.length, 1);
  db.close();
});

test('personal defaults fill empty options, never above the server’s limits; explicit options win', () => {
  const parsed = parseImagineOptions({ prompt: 'x' }, limits, catalog, { count: 4, size: '512x384', negative: 'text' });
  assert.ok(parsed.ok);
  assert.equal(parsed.params.request.count, 2);
  assert.deepEqual([parsed.params.request.width, parsed.params.request.height], [256, 192]);
  assert.equal(parsed.params.request.negativePrompt, 'text');
  const explicit = parseImagineOptions({ prompt: 'x', count: 1, size: '64x64', negative: 'fog' }, limits, catalog, {
    count: 4,
    size: '512x384',
    negative: 'text',
  });
  assert.ok(explicit.ok);
  assert.equal(explicit.params.request.count, 1);
  assert.deepEqual([explicit.params.request.width, explicit.params.request.height], [64, 64]);
  assert.equal(explicit.params.request.negativePrompt, 'fog');
  // A model that is not installed is skipped (prefs.ts also skips ones the server denies).
  const gone = parseImagineOptions({ prompt: 'x' }, limits, catalog, { model: 'tiny' });
  assert.ok(gone.ok);
  assert.equal(gone.params.model.name, 'tiny');
});

test('/imagine mask: only with an image; inpainting defaults to strength 1', () => {
  const att = { url: 'https://cdn.discordapp.com/a.png', name: 'a.png', contentType: 'image/png', size: 10 };
  const alone = parseImagineOptions({ prompt: 'x', mask: att }, limits, catalog);
  assert.ok(!alone.ok);
  assert.match(alone.message, /\*\*mask\*\* needs an image to paint into/);
  const both = parseImagineOptions({ prompt: 'x', image: att, mask: att }, limits, catalog);
  assert.ok(both.ok);
  assert.equal(both.params.request.strength, 1);
  assert.equal(both.params.mask?.url, att.url);
  const badMask = parseImagineOptions({ prompt: 'x', image: att, mask: { ...att, contentType: 'text/plain' } }, limits, catalog);
  assert.ok(!badMask.ok);
  assert.match(badMask.message, /\*\*mask\*\* must be a PNG, JPEG or WebP image/);
});

test('PendingEditStore: a form finds its image once, for its user in its guild, within the hour', () => {
  const db = openDatabase(mkdtempSync(join(tmpdir(), 'pending-db-')));
  const store = new PendingEditStore(db);
  const base = { userId: 'u1', guildId: 'g1', channelId: 'c', messageId: 'm', authorId: 'a', imageUrl: 'https://cdn.discordapp.com/x.png', width: 10 };
  const one = store.add(base, 1000);
  assert.equal(store.take(one.id, 'u2', 'g1', 1000), undefined);
  assert.equal(store.take(one.id, 'u1', 'g2', 1000), undefined);
  assert.equal(store.take(one.id, 'u1', 'g1', 1000)?.imageUrl, base.imageUrl);
  assert.equal(store.take(one.id, 'u1', 'g1', 1000), undefined, 'only once');
  const old = store.add(base, 1000);
  assert.equal(store.take(old.id, 'u1', 'g1', 1000 + PENDING_EDIT_TTL_MS + 1), undefined, 'expired');
  db.close();
});

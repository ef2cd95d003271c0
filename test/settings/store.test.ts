// Guild settings in SQLite: round trip with audit rows across reopening, a damaged row keeps its
// valid sections, the provider policy source, /stats' queries, and the blur for flagged images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { blurImage, verdictFor } from '../../src/bot/safety-delivery.js';
import { settingsPolicySource } from '../../src/settings/policy-source.js';
import { SettingsService } from '../../src/settings/service.js';
import { SettingsStore } from '../../src/settings/store.js';
import { UsageStore } from '../../src/settings/usage.js';
import { CloudUsageStore } from '../../src/queue/cloud-usage.js';
import { openDatabase } from '../../src/store/db.js';
import { addJob, GUILD, owner, tempDb } from './helpers.js';

test('a change is stored with its audit row, and both survive reopening the database', () => {
  const db = tempDb();
  const dir = db.name.replace(/\/bot\.sqlite$/, '');
  let now = 1_000;
  const service = new SettingsService(db, owner(), () => now);
  const r = service.change(GUILD, 'admin1', { kind: 'limits', values: { maxSteps: 30 } }, ['tiny']);
  assert.ok(r.ok);
  now = 2_000;
  assert.ok(service.change(GUILD, 'admin2', { kind: 'safety-flagged', action: 'blur' }, ['tiny']).ok);
  assert.ok(!service.change(GUILD, 'admin2', { kind: 'limits', values: { maxSteps: 99 } }, ['tiny']).ok, 'refused');
  service.close();

  const again = new SettingsService(openDatabase(dir), owner());
  assert.deepEqual(again.settings(GUILD), { limits: { maxSteps: 30 }, safety: { blockedWords: [], flagged: 'blur' } });
  assert.equal(again.effective(GUILD).limits.maxSteps.value, 30);
  assert.deepEqual(again.settings('100000000000000002'), {}, 'other guilds are untouched');
  assert.deepEqual(
    again.audit(GUILD).map((e) => [e.userId, e.at, e.setting, e.before, e.after]),
    [
      ['admin2', 2000, 'safety.flagged', null, 'blur'],
      ['admin1', 1000, 'limits.maxSteps', { maxSteps: null }, { maxSteps: 30 }],
    ],
  );
  again.close();
});

test('a stored row that no longer fits keeps its valid sections and reports the rest', () => {
  const db = tempDb();
  db.prepare('INSERT INTO guild_settings (guild_id, settings_json, updated_at, updated_by) VALUES (?, ?, 0, ?)').run(
    GUILD,
    JSON.stringify({ limits: { maxSteps: 'lots' }, safety: { blockedWords: ['gore'], flagged: 'allow' } }),
    'x',
  );
  const problems: string[] = [];
  const store = new SettingsStore(db, (_g, p) => problems.push(p));
  assert.deepEqual(store.get(GUILD), { safety: { blockedWords: ['gore'], flagged: 'allow' } });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /maxSteps/);
  db.close();
});

test('the provider policy comes from the settings, else the environment default', () => {
  const db = tempDb();
  const store = new SettingsStore(db);
  const source = settingsPolicySource(store, { provider: 'fallback', imagenDailyCap: 100 });
  assert.deepEqual(source.policyFor(GUILD), { provider: 'fallback', imagenDailyCap: 100 });
  assert.deepEqual(source.policyFor(null), { provider: 'fallback', imagenDailyCap: 100 });
  store.write(GUILD, 'admin', { provider: { policy: 'local' } }, { setting: 'provider', before: {}, after: { policy: 'local' } }, 1);
  assert.deepEqual(source.policyFor(GUILD), { provider: 'local', imagenDailyCap: 100 });
  store.write(GUILD, 'admin', { provider: { policy: 'cloud', imagenDailyCap: 5 } }, { setting: 'provider', before: {}, after: {} }, 2);
  assert.deepEqual(source.policyFor(GUILD), { provider: 'cloud', imagenDailyCap: 5 });
  // Settings stored before the rename say `imagen`: they still read as `cloud`.
  db.prepare('UPDATE guild_settings SET settings_json = ? WHERE guild_id = ?').run(
    JSON.stringify({ provider: { policy: 'imagen', imagenDailyCap: 3 } }),
    GUILD,
  );
  assert.deepEqual(source.policyFor(GUILD), { provider: 'cloud', imagenDailyCap: 3 });
  db.close();
});

test('/stats: per day, device seconds per user and model, failures, cloud usage in images and billed tokens', () => {
  const db = tempDb();
  const usage = new UsageStore(db);
  const day = Date.UTC(2025, 2, 3);
  const now = day + 15 * 3_600_000;
  addJob(db, { userId: 'ann', createdAt: day + 1000, startedAt: day + 1000, finishedAt: day + 5000, count: 4 });
  addJob(db, { userId: 'ann', createdAt: day + 9000, startedAt: day + 9000, finishedAt: day + 10_000, model: 'sd15' });
  addJob(db, { userId: 'ben', createdAt: day - 3_600_000, startedAt: day - 3_600_000, finishedAt: day - 3_598_000, count: 2 });
  addJob(db, { userId: 'ben', createdAt: day + 2000, state: 'failed', startedAt: day + 2000, finishedAt: day + 2500, error: 'Cannot load unet' });
  addJob(db, { userId: 'ben', createdAt: day + 3000, provider: 'imagen', count: 2, startedAt: day + 3000, finishedAt: day + 9000 });
  addJob(db, { userId: 'ben', createdAt: day + 3000, guildId: '100000000000000009' });
  const s = usage.guildStats(GUILD, now);
  assert.deepEqual(s.days, [
    { day: '2025-03-03', jobs: 3, images: 7, failed: 1, imagenImages: 2 },
    { day: '2025-03-02', jobs: 1, images: 2, failed: 0, imagenImages: 0 },
  ]);
  assert.deepEqual(
    s.byUser.map((r) => [r.key, r.seconds, r.jobs]),
    [
      ['ann', 5, 2],
      ['ben', 2.5, 2],
    ],
  );
  assert.deepEqual(
    s.byModel.map((r) => [r.label, r.seconds]),
    [
      ['tiny', 6.5],
      ['sd15', 1],
    ],
  );
  assert.deepEqual(s.failures, { count: 1, recent: [{ error: 'Cannot load unet', count: 1 }] });
  assert.deepEqual(s.imagen, { jobs: 1, images: 2, today: 2, tokens: { calls: 0, prompt: 0, output: 0, total: 0 } });
  // Tokens come from the cloud runner's rows, per guild and within the window.
  const cloud = new CloudUsageStore(db);
  const row = { attempt: 1, model: 'gemini-3.1-flash-image', calls: 2, images: 2, promptTokens: 24, outputTokens: 2580, thoughtsTokens: 80, totalTokens: 2684 };
  cloud.record({ ...row, jobId: 'j1', guildId: GUILD, at: day + 9000 });
  cloud.record({ ...row, jobId: 'j1', guildId: GUILD, at: day + 9000 }); // the same attempt again replaces it
  cloud.record({ ...row, jobId: 'j2', guildId: GUILD, at: day + 9500, calls: 1, promptTokens: 12, outputTokens: 0, totalTokens: 12 });
  cloud.record({ ...row, jobId: 'j3', guildId: '100000000000000009', at: day + 9000 });
  cloud.record({ ...row, jobId: 'j4', guildId: GUILD, at: day - 30 * 86_400_000 });
  assert.deepEqual(usage.guildStats(GUILD, now).imagen.tokens, { calls: 3, prompt: 36, output: 2580, total: 2696 });
  assert.equal(usage.imagenImagesSince(GUILD, day + 4000), 0);
  db.close();
});

test('flagged images: blocked, blurred or shown by action and channel; the blur leaves no detail', async () => {
  assert.equal(verdictFor(false, 'block', false), 'show');
  assert.equal(verdictFor(true, 'block', true), 'block');
  assert.equal(verdictFor(true, 'blur', true), 'blur');
  assert.equal(verdictFor(true, 'allow', false), 'blur', 'allow applies only in age-restricted channels');
  assert.equal(verdictFor(true, 'allow', true), 'show');

  // A black-and-white checkerboard of 8-pixel squares comes out as flat grey.
  const side = 128;
  const raw = Buffer.alloc(side * side);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) raw[y * side + x] = ((x >> 3) + (y >> 3)) % 2 ? 255 : 0;
  const png = await sharp(raw, { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toBuffer();
  const blurred = await sharp(await blurImage(png))
    .greyscale()
    .raw()
    .toBuffer();
  const inner = [...blurred].filter((_, i) => {
    const x = i % side;
    const y = Math.floor(i / side);
    return x > 16 && x < side - 16 && y > 16 && y < side - 16;
  });
  assert.ok(Math.max(...inner) - Math.min(...inner) < 40, `range ${Math.min(...inner)}–${Math.max(...inner)}`);
});

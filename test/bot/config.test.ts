import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applicationIdFromToken, DiscordConfigError, loadDiscordConfig } from '../../src/config/discord.js';

const APP_ID = '1191168914227331073';
const token = `${Buffer.from(APP_ID).toString('base64url')}.GAbCdE.${'x'.repeat(38)}`;

test('the application id comes from the token unless given', () => {
  assert.equal(applicationIdFromToken(token), APP_ID);
  assert.equal(loadDiscordConfig({ DISCORD_TOKEN: token }).applicationId, APP_ID);
  assert.equal(loadDiscordConfig({ DISCORD_TOKEN: token, DISCORD_APPLICATION_ID: '123456789012345678' }).applicationId, '123456789012345678');
  assert.equal(applicationIdFromToken('not-a-token'), undefined);
  assert.equal(applicationIdFromToken(`${Buffer.from('hello').toString('base64url')}.a.b`), undefined);
});

test('a missing token is one sentence naming the variable and the fix', () => {
  for (const env of [{}, { DISCORD_TOKEN: '' }]) {
    assert.throws(
      () => loadDiscordConfig(env),
      (err: unknown) =>
        err instanceof DiscordConfigError && /^DISCORD_TOKEN is not set: .*Developer Portal.*\.$/.test(err.message) && !err.message.includes('\n'),
    );
  }
});

test('a malformed token is refused before any network call', () => {
  assert.throws(() => loadDiscordConfig({ DISCORD_TOKEN: 'hunter2' }), {
    name: 'DiscordConfigError',
    message: /^DISCORD_TOKEN does not look like a bot token/,
  });
});

test('other bad settings name the variable', () => {
  assert.throws(() => loadDiscordConfig({ DISCORD_TOKEN: token, DEV_GUILD_ID: 'my-guild' }), /DEV_GUILD_ID must be a snowflake/);
  assert.throws(() => loadDiscordConfig({ DISCORD_TOKEN: token, DISCORD_API_URL: 'ftp://x' }), /DISCORD_API_URL must be an http\(s\) URL/);
  assert.throws(() => loadDiscordConfig({ DISCORD_TOKEN: token, IMAGINE_MAX_COUNT: '9' }), /IMAGINE_MAX_COUNT/);
  assert.throws(() => loadDiscordConfig({ DISCORD_TOKEN: token, DEVICES: 'gpu' }), /DEVICES/);
});

test('defaults, and empty values mean unset', () => {
  const c = loadDiscordConfig({ DISCORD_TOKEN: token, DEV_GUILD_ID: '', DISCORD_API_URL: 'http://127.0.0.1:9/api/' });
  assert.equal(c.devGuildId, undefined);
  assert.equal(c.apiUrl, 'http://127.0.0.1:9/api');
  assert.deepEqual(c.ceilings, { maxSteps: 50, maxSide: 1536, maxCount: 4, maxGuidance: 20, maxLoras: 3 });
  assert.equal(c.variationStrength, 0.6);
  assert.equal(c.progressIntervalMs, 2000);
  assert.equal(c.clockOffsetMs, 0);
  assert.deepEqual(c.app.DEVICES, ['cpu']);
  assert.ok(c.dataDir.endsWith('/data'));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDiscordConfig } from '../../src/config/discord.js';

const token = `${Buffer.from('123456789012345678').toString('base64url')}.GAbCdE.${'x'.repeat(38)}`;

test('IMAGINE_MAX_SIDE must be a multiple of 64 (the /imagine size grid), as docs/discord-setup.md says', () => {
  assert.throws(() => loadDiscordConfig({ DISCORD_TOKEN: token, IMAGINE_MAX_SIDE: '1000' }), /IMAGINE_MAX_SIDE must be a multiple of 64/);
  assert.equal(loadDiscordConfig({ DISCORD_TOKEN: token, IMAGINE_MAX_SIDE: '1024' }).ceilings.maxSide, 1024);
  assert.equal(loadDiscordConfig({ DISCORD_TOKEN: token }).ceilings.maxSide, 1536);
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRest } from '../../src/bot/client.js';
import { commandPayloads, commandsHash, loadCommands, registerIfChanged } from '../../src/bot/registry.js';
import { startDiscordStandIn, type DiscordStandIn } from '../support/discord/index.js';

let discord: DiscordStandIn;
const tmp = mkdtempSync(join(tmpdir(), 'bot-registry-'));

before(async () => {
  discord = await startDiscordStandIn();
});

after(async () => {
  await discord.close();
  rmSync(tmp, { recursive: true, force: true });
});

test('commands/ holds /imagine with execute and autocomplete', async () => {
  const commands = await loadCommands();
  const imagine = commands.get('imagine');
  assert.ok(imagine);
  assert.equal(typeof imagine.execute, 'function');
  assert.equal(typeof imagine.autocomplete, 'function');
  const json = imagine.data.toJSON();
  assert.deepEqual(
    ('options' in json ? json.options : undefined)?.map((o) => o.name),
    [
      'prompt',
      'negative',
      'seed',
      'steps',
      'guidance',
      'size',
      'count',
      'model',
      'scheduler',
      'image',
      'strength',
      'lora',
      'lora_weight',
      'mask',
      'mask_content',
      'inpaint_area',
      'mask_padding',
      'controlnet',
      'control_image',
      'control_scale',
    ],
  );
});

test('a malformed command module stops loading with its file name', async () => {
  const dir = join(tmp, 'bad');
  mkdirSync(dir);
  writeFileSync(join(dir, 'broken.ts'), 'export const data = 1;\n');
  await assert.rejects(loadCommands(dir), /commands\/broken\.ts is not a command module/);
});

test('the hash follows the definitions and the target', async () => {
  const payloads = commandPayloads(await loadCommands());
  const app = { applicationId: discord.applicationId };
  assert.equal(commandsHash(payloads, app), commandsHash(structuredClone(payloads), app));
  assert.notEqual(commandsHash(payloads, app), commandsHash(payloads, { ...app, guildId: discord.guild().id }));
  const changed = structuredClone(payloads);
  (changed[0] as { description?: string }).description = 'something else';
  assert.notEqual(commandsHash(changed, app), commandsHash(payloads, app));
});

test('registerIfChanged registers once (Discord accepts the definitions), then only after a change', async () => {
  const rest = createRest({ token: discord.token, apiUrl: discord.restUrl });
  const payloads = commandPayloads(await loadCommands());
  const guild = { applicationId: discord.applicationId, guildId: discord.guild().id };
  const dataDir = join(tmp, 'data');

  assert.equal(await registerIfChanged(rest, payloads, guild, dataDir), true);
  assert.deepEqual(
    discord.commands(discord.guild().id).map((c) => (c as { name: string }).name),
    ['cancel', 'Edit image', 'imagine', 'models', 'prefs', 'queue', 'settings', 'stats', 'Vary this image'],
  );
  assert.equal(await registerIfChanged(rest, payloads, guild, dataDir), false);
  assert.equal(discord.commandRegistrations.length, 1);

  assert.equal(await registerIfChanged(rest, payloads, { applicationId: discord.applicationId }, dataDir), true);
  assert.deepEqual(
    discord.commands().map((c) => (c as { name: string }).name),
    ['cancel', 'Edit image', 'imagine', 'models', 'prefs', 'queue', 'settings', 'stats', 'Vary this image'],
  );
  assert.equal(discord.commandRegistrations.length, 2);
});

// The entry points as an operator runs them: configuration and token problems end in one
// sentence on stderr (no stack trace) and exit code 1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDiscordStandIn, type DiscordStandIn } from '../support/discord/index.js';
import { isolated, entryArgs } from '../support/child-process.js';

let discord: DiscordStandIn;
const dataDir = mkdtempSync(join(tmpdir(), 'bot-startup-'));

before(async () => {
  discord = await startDiscordStandIn();
});

after(async () => {
  await discord.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Runs an entry point; DISCORD_TOKEN is always set (maybe empty) so a developer's .env cannot leak in. */
function run(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, entryArgs(script), {
      ...isolated({ DATA_DIR: dataDir, DISCORD_TOKEN: '', DEV_GUILD_ID: '', DISCORD_API_URL: '', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm start without a token says so in one sentence', async () => {
  const r = await run('src/main.ts', {});
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^imagine-bot: DISCORD_TOKEN is not set: copy your bot's token from the Developer Portal into \.env \(see docs\/discord-setup\.md\)\.\n$/,
  );
});

test('npm start with a token Discord rejects says so in one sentence', async () => {
  const wrong = `${Buffer.from(discord.applicationId).toString('base64url')}.GWrong.not-the-right-token-at-all`;
  const r = await run('src/main.ts', { DISCORD_TOKEN: wrong, DISCORD_API_URL: discord.restUrl });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^imagine-bot: Discord rejected DISCORD_TOKEN \(401 Unauthorized\): reset the token .*\n$/);
});

test('an unreachable Discord is named with the address', async () => {
  const r = await run('src/bot/register-cli.ts', { DISCORD_TOKEN: discord.token, DISCORD_API_URL: 'http://127.0.0.1:9/api' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^register: Cannot reach Discord at http:\/\/127\.0\.0\.1:9\/api \(ECONNREFUSED\): check the network and DISCORD_API_URL\.\n$/);
});

test('npm run register puts the commands on the dev guild', async () => {
  const guild = discord.guild().id;
  const r = await run('src/bot/register-cli.ts', { DISCORD_TOKEN: discord.token, DISCORD_API_URL: discord.restUrl, DEV_GUILD_ID: guild });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `Registered /cancel, "Edit image" (message menu), /imagine, /models, /prefs, /queue, /settings, /stats, "Vary this image" (message menu) for guild ${guild} (available now).\n`,
  );
  assert.deepEqual(
    discord.commands(guild).map((c) => (c as { name: string }).name),
    ['cancel', 'Edit image', 'imagine', 'models', 'prefs', 'queue', 'settings', 'stats', 'Vary this image'],
  );
});

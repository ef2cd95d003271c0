// The bot's real logger in a child process: secrets in fields, error messages, stacks and URLs
// never reach stderr; the rest of each line does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { scrubSecrets } from '../../src/log-redact.js';
import { startDiscordStandIn } from '../support/discord/index.js';

const root = resolve(import.meta.dirname, '..', '..');
const INTERACTION_TOKEN = 'aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnNlY3JldA-xyz_123';
const GOOGLE_KEY = `AIza${'Q'.repeat(35)}`;

test('no secret reaches a log line: fields, error messages and stacks, webhook and key= URLs', async (t) => {
  const discord = await startDiscordStandIn();
  t.after(() => discord.close());
  const BOT_TOKEN = discord.token;
  // Asynchronously: the stand-in answers from this process.
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/bot/fixtures/log-secrets.ts', BOT_TOKEN, INTERACTION_TOKEN, GOOGLE_KEY, discord.restUrl, discord.applicationId],
    {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const r = { status, stderr };
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 7, r.stderr);
  for (const secret of [BOT_TOKEN, INTERACTION_TOKEN, GOOGLE_KEY]) assert.ok(!r.stderr.includes(secret), `stderr holds …${secret.slice(-10)}:\n${r.stderr}`);
  const [apiError, edit, fields, config, imagen, callback, plain] = lines;
  assert.equal((apiError.err as { type: string }).type, 'DiscordAPIError', JSON.stringify(apiError));
  assert.match(String((apiError.err as { url: string }).url), /\/webhooks\/\d+\/\[redacted\]\/messages\/%40original$/);
  // What is left is still useful: the route, the status, the stack's frames.
  assert.match(String(edit.url), /\/webhooks\/123456789012345678\/\[redacted\]\/messages\/@original$/);
  assert.match(JSON.stringify(edit.err), /404 Unknown Webhook/);
  assert.match(String((edit.err as { stack: string }).stack), /log-secrets\.ts/);
  assert.equal(fields.token, '[redacted]');
  assert.deepEqual(fields.interaction, { token: '[redacted]', id: '1' });
  assert.deepEqual(fields.headers, { authorization: '[redacted]' });
  assert.deepEqual(config.config, { apiKey: '[redacted]', DISCORD_TOKEN: '[redacted]' });
  assert.match(String(imagen.msg), /:predict\?key=\[redacted\] failed$/);
  assert.match(String(callback.msg), /\/interactions\/987654321098765432\/\[redacted\]\/callback refused, Authorization: Bot \[redacted\]$/);
  assert.equal(plain.msg, 'an ordinary line with https://cdn.discordapp.com/attachments/1/2/a.png?ex=abc');
});

test('scrubSecrets leaves ordinary text alone', () => {
  for (const text of ['job 0f6c2b8e-5d9a-4c1e-9a61-0123456789ab done', 'GET /api/v10/channels/123/messages 200', 'keyframe=3&x=1'])
    assert.equal(scrubSecrets(text), text);
});

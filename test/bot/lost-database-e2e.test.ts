// The real bot refuses to start on a missing or emptied database while DATA_DIR/outputs still
// holds images of an earlier one (it would otherwise start over with default limits, silently),
// and starts fresh once the operator says so with ACCEPT_FRESH_DATABASE=1.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultOf, startHarness, type Harness } from './harness.js';

let h: Harness;
const dbPath = () => join(h.dataDir, 'bot.sqlite');

before(async () => {
  h = await startHarness();
  const bot = await h.startBot();
  const run = await h.discord.slash('imagine', { prompt: 'an earlier job', steps: 2, size: '64x64', count: 1 });
  await run.ack();
  await resultOf(h.discord, run);
  assert.equal(await bot.stop(), 0);
  assert.ok(readdirSync(join(h.dataDir, 'outputs')).length > 0, 'outputs/ holds the earlier job');
});

after(async () => {
  await h.close();
});

function removeDatabase(): void {
  for (const side of ['', '-wal', '-shm']) rmSync(dbPath() + side, { force: true });
}

async function refusal(): Promise<string> {
  const bot = await h.startBot({}, { ready: false });
  const code = await Promise.race([bot.wait(), new Promise((r) => setTimeout(r, 30_000, 'still running after 30 s'))]);
  assert.equal(code, 1, bot.log);
  return bot.log;
}

test('a deleted database: the bot refuses to start, naming the file and the way out', async () => {
  removeDatabase();
  const log = await refusal();
  assert.match(
    log,
    new RegExp(
      `^imagine-bot: The database ${dbPath().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is missing, but .*outputs holds the images of 1 earlier job: restore the database file from a backup, or set ACCEPT_FRESH_DATABASE=1 to start with a new, empty one`,
      'm',
    ),
  );
  assert.doesNotMatch(log, /at .*\.ts:\d+/, 'one sentence, no stack trace');
  assert.equal(existsSync(dbPath()), false, 'no empty database was created');
});

test('an emptied (truncated) database is refused the same way', async () => {
  removeDatabase();
  // A zero-byte file, as `> bot.sqlite` or a failed copy leaves it.
  writeFileSync(dbPath(), '');
  const log = await refusal();
  assert.match(log, /The database .*bot\.sqlite is empty, but .*ACCEPT_FRESH_DATABASE=1/);
});

test('ACCEPT_FRESH_DATABASE=1 starts with a new database, and later starts need no flag', async () => {
  removeDatabase();
  const bot = await h.startBot({ ACCEPT_FRESH_DATABASE: '1' });
  const run = await h.discord.slash('imagine', { prompt: 'after the fresh start', steps: 2, size: '64x64', count: 1 });
  await run.ack();
  await resultOf(h.discord, run);
  assert.equal(await bot.stop(), 0);
  const again = await h.startBot();
  assert.equal(await again.stop(), 0);
});

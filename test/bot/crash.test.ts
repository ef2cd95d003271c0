// exitOnCrash (src/process-exit.ts), as `npm run worker` installs it: an uncaught
// exception or unhandled rejection is logged, the cleanup runs to its end, the exit code is 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

const root = resolve(import.meta.dirname, '..', '..');

for (const [how, origin, text] of [
  ['throw', 'uncaughtException', 'boom from a callback'],
  ['reject', 'unhandledRejection', 'boom from a promise'],
] as const) {
  test(`${origin}: logged, cleaned up, exit 1`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'crash-'));
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/bot/fixtures/crash-child.ts', how, dir], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 1, `exit ${r.status} ${r.signal}\n${r.stderr}`);
      assert.equal(r.stdout, 'cleanup done\n', 'the cleanup ran to its end before the exit');
      const fatal = r.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: number; msg: string; origin?: string; err?: { message: string; stack: string } })
        .find((l) => l.level === 60);
      assert.ok(fatal, `a fatal line:\n${r.stderr}`);
      assert.equal(fatal.origin, origin);
      assert.match(fatal.msg, /crash-fixture: .*shutting down/);
      assert.equal(fatal.err?.message, text);
      assert.match(fatal.err?.stack ?? '', /crash-child\.ts/);
      const db = new Database(join(dir, 'bot.sqlite'), { readonly: true });
      assert.deepEqual(db.prepare('SELECT what FROM marks').all(), [{ what: 'cleaned up' }], 'the write in the cleanup was committed');
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

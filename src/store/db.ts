// Opens DATA_DIR/bot.sqlite with the settings a long-running bot with a few writers needs.
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';
import { ensurePrivateDirSync, PRIVATE_FILE_MODE, tightenSync } from './private-files.js';

export type Db = Database.Database;

export function openDatabase(dataDir: string, fileName = 'bot.sqlite'): Db {
  ensurePrivateDirSync(dataDir);
  const path = join(dataDir, fileName);
  // The database holds live interaction tokens: 0600. SQLite gives the -wal and -shm files the
  // database file's own mode, so creating it 0600 first covers all three.
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  tightenSync(path, PRIVATE_FILE_MODE);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  for (const side of ['-wal', '-shm']) if (existsSync(path + side)) tightenSync(path + side, PRIVATE_FILE_MODE);
  db.pragma('foreign_keys = ON');
  // A second process (CLI, a restarting bot) may hold the write lock briefly.
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  migrate(db);
  return db;
}

/** True when `path` is no database yet: absent, empty (truncated), or SQLite without a table. */
function isFreshDatabase(path: string): boolean {
  if (!existsSync(path) || statSync(path).size === 0) return true;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n === 0;
    } finally {
      db.close();
    }
  } catch {
    // Unreadable or corrupt: openDatabase reports that with SQLite's own message.
    return false;
  }
}

/**
 * Why starting would silently forget an earlier database, or undefined when it would not: the
 * database is missing (or emptied) but DATA_DIR/outputs still holds images of jobs it recorded.
 * Starting fresh would drop every server's settings, quotas and job history without a word.
 */
export function lostDatabaseProblem(dataDir: string, fileName = 'bot.sqlite'): string | undefined {
  const path = join(dataDir, fileName);
  const outputs = join(dataDir, 'outputs');
  if (!isFreshDatabase(path)) return undefined;
  const earlier = existsSync(outputs) ? readdirSync(outputs).length : 0;
  if (earlier === 0) return undefined;
  return (
    `The database ${path} is ${existsSync(path) ? 'empty' : 'missing'}, but ${outputs} holds the images of ${earlier} earlier job${earlier === 1 ? '' : 's'}: ` +
    'restore the database file from a backup, or set ACCEPT_FRESH_DATABASE=1 to start with a new, empty one (server settings, quotas and job history start over).'
  );
}

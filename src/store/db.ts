// Opens DATA_DIR/bot.sqlite with the settings a long-running bot with a few writers needs.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrate } from './migrations.js';

export type Db = Database.Database;

export function openDatabase(dataDir: string, fileName = 'bot.sqlite'): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, fileName));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  // A second process (CLI, a restarting bot) may hold the write lock briefly.
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = NORMAL');
  migrate(db);
  return db;
}

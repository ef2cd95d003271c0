// Prepared statements, each prepared once per connection: better-sqlite3 compiles the SQL on
// every prepare(), which showed up in profiles of command bursts.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';

export class StatementCache {
  private readonly cache = new Map<string, Statement>();

  constructor(private readonly db: Db) {}

  get(sql: string): Statement {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }
}

// HTTP API keys (`npm run keys`, src/api/auth.ts). Only the SHA-256 of a key is stored: a key is
// 32 random bytes, so a fast hash is enough (nothing to brute-force), and a lookup is one index
// hit. The plain key is shown once, when it is created.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './db.js';
import { StatementCache } from './statements.js';

/** What one key may do, beyond the owner's limits for everyone (absent: the owner's). */
export interface ApiKeyLimits {
  imagesPerDay?: number;
  jobsPerHour?: number;
  maxSteps?: number;
  maxSide?: number;
  maxImages?: number;
  /** Requests per minute (absent: API_RATE_LIMIT_PER_MIN). */
  ratePerMinute?: number;
}

export interface ApiKey {
  name: string;
  limits: ApiKeyLimits;
  /** Sees every key's jobs on the status page and may cancel them. */
  admin: boolean;
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
}

interface KeyRow {
  name: string;
  limits_json: string;
  admin: number;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export const KEY_PREFIX = 'ib_';

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

function rowToKey(r: KeyRow): ApiKey {
  return {
    name: r.name,
    limits: JSON.parse(r.limits_json) as ApiKeyLimits,
    admin: r.admin === 1,
    createdAt: r.created_at,
    ...(r.last_used_at !== null ? { lastUsedAt: r.last_used_at } : {}),
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
  };
}

export class ApiKeyStore {
  private readonly sql: StatementCache;

  constructor(db: Db) {
    this.sql = new StatementCache(db);
  }

  /** Creates the key and returns it in plain text (the only time it exists outside the client). */
  create(name: string, limits: ApiKeyLimits, opts: { admin?: boolean; now?: number } = {}): string {
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    this.sql
      .get('INSERT INTO api_keys (name, key_hash, limits_json, admin, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(name, hashKey(key), JSON.stringify(limits), opts.admin ? 1 : 0, opts.now ?? Date.now());
    return key;
  }

  exists(name: string): boolean {
    return this.sql.get('SELECT 1 FROM api_keys WHERE name = ?').get(name) !== undefined;
  }

  /** The live (unrevoked) key with this plain text, or undefined. */
  verify(key: string): ApiKey | undefined {
    const row = this.sql.get('SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL').get(hashKey(key)) as KeyRow | undefined;
    return row ? rowToKey(row) : undefined;
  }

  /** True when the plain text is a key that was revoked (so the refusal can say so). */
  isRevoked(key: string): boolean {
    return this.sql.get('SELECT 1 FROM api_keys WHERE key_hash = ? AND revoked_at IS NOT NULL').get(hashKey(key)) !== undefined;
  }

  touch(name: string, now = Date.now()): void {
    this.sql.get('UPDATE api_keys SET last_used_at = ? WHERE name = ?').run(now, name);
  }

  list(): ApiKey[] {
    return (this.sql.get('SELECT * FROM api_keys ORDER BY name').all() as KeyRow[]).map(rowToKey);
  }

  /** False when there is no live key of that name. */
  revoke(name: string, now = Date.now()): boolean {
    return this.sql.get('UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(now, name).changes > 0;
  }
}

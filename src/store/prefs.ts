// Personal defaults (/prefs) in SQLite (user_prefs), one row per user. What is stored is what the
// user asked for; servers' limits are applied when a job uses them (src/bot/prefs.ts), so a
// server that tightens its limits later never sees a job above them.
import { z } from 'zod';
import type { Db } from './db.js';
import { StatementCache } from './statements.js';

export const userPrefsSchema = z.object({
  model: z.string().min(1).max(100).optional(),
  /** A size preset or WxH, as /imagine's `size` takes it. */
  size: z.string().min(1).max(11).optional(),
  negative: z.string().max(1000).optional(),
  count: z.number().int().min(1).max(4).optional(),
  /** 🔄 and V open a modal with the prompt to edit before the job is queued. */
  remix: z.boolean().optional(),
  /** Results only the requester sees, where the server allows it. */
  stealth: z.boolean().optional(),
});
export type UserPrefs = z.infer<typeof userPrefsSchema>;

export class PrefsStore {
  private readonly sql: StatementCache;

  constructor(
    db: Db,
    /** Told when a stored row no longer fits the schema (then it reads as no preferences). */
    private readonly onProblem: (userId: string, problem: string) => void = () => undefined,
  ) {
    this.sql = new StatementCache(db);
  }

  get(userId: string): UserPrefs {
    const row = this.sql.get('SELECT prefs_json FROM user_prefs WHERE user_id = ?').get(userId) as { prefs_json: string } | undefined;
    if (!row) return {};
    try {
      const parsed = userPrefsSchema.safeParse(JSON.parse(row.prefs_json));
      if (parsed.success) return parsed.data;
      this.onProblem(userId, z.prettifyError(parsed.error));
    } catch (err) {
      this.onProblem(userId, String(err));
    }
    return {};
  }

  /** Stores `prefs` as the user's preferences (validated); an empty object removes the row. */
  set(userId: string, prefs: UserPrefs, at = Date.now()): UserPrefs {
    const clean = userPrefsSchema.parse(prefs);
    for (const key of Object.keys(clean) as (keyof UserPrefs)[]) if (clean[key] === undefined) delete clean[key];
    if (Object.keys(clean).length === 0) {
      this.sql.get('DELETE FROM user_prefs WHERE user_id = ?').run(userId);
      return clean;
    }
    this.sql
      .get(
        `INSERT INTO user_prefs (user_id, prefs_json, updated_at) VALUES (?, ?, ?)
         ON CONFLICT(user_id) DO UPDATE SET prefs_json = excluded.prefs_json, updated_at = excluded.updated_at`,
      )
      .run(userId, JSON.stringify(clean), at);
    return clean;
  }
}

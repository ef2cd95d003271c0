// The image an open "Edit image…" form is about. A modal cannot carry it (custom_id is 100
// characters; Discord's attachment URLs are signed and longer), and the message cannot be read
// again later (other people's messages come without attachments unless the app has the
// Message Content intent; the context-menu interaction is the one moment the bot sees them).
// So the attachment's URL is kept here, under the id the form's custom_id names, until the
// form comes back or an hour has passed.
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import { StatementCache } from './statements.js';

export interface PendingEdit {
  id: string;
  userId: string;
  guildId: string;
  channelId: string;
  messageId: string;
  authorId: string;
  imageUrl: string;
  width?: number;
  height?: number;
  createdAt: number;
}

interface Row {
  id: string;
  user_id: string;
  guild_id: string;
  channel_id: string;
  message_id: string;
  author_id: string;
  image_url: string;
  width: number | null;
  height: number | null;
  created_at: number;
}

/** How long an open form stays good (Discord closes modals long before). */
export const PENDING_EDIT_TTL_MS = 60 * 60_000;

export class PendingEditStore {
  private readonly sql: StatementCache;

  constructor(db: Db) {
    this.sql = new StatementCache(db);
  }

  add(edit: Omit<PendingEdit, 'id' | 'createdAt'>, now = Date.now()): PendingEdit {
    this.sql.get('DELETE FROM pending_edits WHERE created_at < ?').run(now - PENDING_EDIT_TTL_MS);
    const row: PendingEdit = { ...edit, id: randomUUID(), createdAt: now };
    this.sql
      .get(
        `INSERT INTO pending_edits (id, user_id, guild_id, channel_id, message_id, author_id, image_url, width, height, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(row.id, row.userId, row.guildId, row.channelId, row.messageId, row.authorId, row.imageUrl, row.width ?? null, row.height ?? null, now);
    return row;
  }

  /** The open form `id` of this user in this guild (else undefined, as if it did not exist). */
  take(id: string, userId: string, guildId: string, now = Date.now()): PendingEdit | undefined {
    const r = this.sql.get('SELECT * FROM pending_edits WHERE id = ?').get(id) as Row | undefined;
    if (!r || r.user_id !== userId || r.guild_id !== guildId || r.created_at < now - PENDING_EDIT_TTL_MS) return undefined;
    this.sql.get('DELETE FROM pending_edits WHERE id = ?').run(id);
    return {
      id: r.id,
      userId: r.user_id,
      guildId: r.guild_id,
      channelId: r.channel_id,
      messageId: r.message_id,
      authorId: r.author_id,
      imageUrl: r.image_url,
      ...(r.width !== null ? { width: r.width } : {}),
      ...(r.height !== null ? { height: r.height } : {}),
      createdAt: r.created_at,
    };
  }
}

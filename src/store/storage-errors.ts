// Storage failures (a full disk, a full database, an I/O error) as opposed to bugs: the queue
// fails the one job such a write was for, logs it for the owner, and carries on.

/** What the job's owner reads when their job could not be saved. */
export const STORAGE_FULL_MESSAGE = "The bot's storage is full (or failing), so this job could not be saved. Try again later.";

/** SQLite result codes that mean the disk or the database file, not the statement. */
const SQLITE_STORAGE = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN)/;
/** Node file-system codes of the same kind. */
const FS_STORAGE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

export function isStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (SQLITE_STORAGE.test(code) || FS_STORAGE.has(code));
}

/** Thrown instead of the storage error itself where a caller needs the write (submit). */
export class StorageFullError extends Error {
  override readonly name = 'StorageFullError';
  constructor(options?: ErrorOptions) {
    super(STORAGE_FULL_MESSAGE, options);
  }
}

// DATA_DIR holds the database (with live interaction tokens), inputs users uploaded and outputs:
// only the bot's own user may read it. Folders are 0700, files 0600, whatever the umask says.
// A DATA_DIR that is private itself also shields what older versions wrote inside it with 0644.
import { chmodSync, mkdirSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { logger } from '../log.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** A path someone else owns (a mount point) cannot be tightened: say so once, and go on. */
function notOurs(path: string, err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  logger.warn({ path }, 'cannot make this path private (another user owns it); check its permissions');
}

export function tightenSync(path: string, mode: number): void {
  try {
    chmodSync(path, mode);
  } catch (err) {
    notOurs(path, err);
  }
}

async function tighten(path: string, mode: number): Promise<void> {
  await chmod(path, mode).catch((err: unknown) => notOurs(path, err));
}

/** Creates `dir` (and missing parents) as 0700, and tightens it if it already existed. */
export function ensurePrivateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tightenSync(dir, PRIVATE_DIR_MODE);
}

export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await tighten(dir, PRIVATE_DIR_MODE);
}

/** writeFile, readable by this user only (the mode applies on creation; chmod covers an old file). */
export async function writePrivateFile(path: string, data: Uint8Array | string): Promise<void> {
  await writeFile(path, data, { mode: PRIVATE_FILE_MODE });
  await tighten(path, PRIVATE_FILE_MODE);
}

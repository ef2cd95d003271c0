// Downloads one repo file into the model folder: into `<file>.part`, resuming with a Range
// request when a part exists, hashing while streaming, and renaming onto the final name only
// once size and sha256 match, so the final name never holds a half-written or wrong file.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HubError } from './hub-errors.js';
import { authHeaders, errorForStatus, networkError, resolveUrl, withRetry, type HubClient, type RequestSubject } from './hub-http.js';
import type { RepoFile } from './hub-listing.js';

export interface DownloadHooks {
  onStart?: (info: { file: string; size?: number; resumeFrom: number }) => void;
  onProgress?: (info: { file: string; received: number; total: number }) => void;
  onRetry?: (info: { file: string; attempt: number; delayMs: number; reason: string }) => void;
  /** The part on disk could not be resumed (server ignored Range, stale part, …) and starts over. */
  onRestart?: (info: { file: string; reason: string }) => void;
}

export interface DownloadTarget {
  client: HubClient;
  repo: string;
  /** Commit (or revision) to resolve files at. */
  revision: string;
  dest: string;
  /** Abort a response that sends nothing for this long, so a dead connection gets retried. */
  stallTimeoutMs: number;
}

/** The part on disk cannot be continued; delete it and fetch from byte 0 (not a failed try). */
class RestartFromZero extends Error {}

const MAX_RESTARTS = 2;

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function hashFileInto(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(path, hash);
  return hash.digest('hex');
}

/** True when the final file is already there with the listed size and sha256. */
export async function isComplete(path: string, file: RepoFile): Promise<boolean> {
  const size = await sizeOf(path);
  if (size === undefined || file.size === undefined || size !== file.size) return false;
  return file.sha256 === undefined || (await sha256Of(path)) === file.sha256;
}

/** Start offset of a `206` answer (`Content-Range: bytes start-end/total`), or undefined. */
function contentRangeStart(res: Response): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

interface PartResult {
  /** sha256 of the whole part, for files the hub lists a sha256 for. */
  sha256?: string;
}

/**
 * One HTTP round: continue (or start) the part and hash it on the fly; resolves once the part
 * holds the whole body. An existing part is hashed first, so the digest covers every byte.
 */
async function fetchIntoPart(
  target: DownloadTarget,
  file: RepoFile,
  partPath: string,
  hooks: DownloadHooks,
  countBytes: (n: number) => void,
): Promise<PartResult> {
  const subject: RequestSubject = { repo: target.repo, revision: target.revision, file: file.path };
  let offset = (await sizeOf(partPath)) ?? 0;
  if (file.size !== undefined && offset > file.size) {
    await rm(partPath, { force: true });
    offset = 0;
  }
  let hash = file.sha256 !== undefined ? createHash('sha256') : undefined;
  if (offset > 0 && hash) await hashFileInto(partPath, hash);
  // A complete part from an earlier run needs no request, only the check.
  if (file.size !== undefined && offset === file.size) return { sha256: hash?.digest('hex') };

  const headers: Record<string, string> = { ...authHeaders(target.client), 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  hooks.onStart?.({ file: file.path, size: file.size, resumeFrom: offset });

  const abort = new AbortController();
  let stallTimer: NodeJS.Timeout | undefined;
  const armStallTimer = (): void => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => abort.abort(new Error(`no data for ${target.stallTimeoutMs / 1000} s`)), target.stallTimeoutMs);
  };

  const url = resolveUrl(target.client, target.repo, target.revision, file.path);
  let received = 0;
  armStallTimer();
  try {
    let res: Response;
    try {
      res = await target.client.fetchImpl(url, { headers, redirect: 'follow', signal: abort.signal });
    } catch (err) {
      throw networkError(abort.signal.aborted ? abort.signal.reason : err, file.path);
    }
    if (res.status === 416 && offset > 0) {
      await res.body?.cancel();
      throw new RestartFromZero('the server refused to resume (HTTP 416)');
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw errorForStatus(res, subject, target.client);
    }
    if (!res.body) throw new HubError('network', `The hub sent no body for ${file.path}.`, true);

    let append = false;
    if (offset > 0 && res.status === 206) {
      const start = contentRangeStart(res);
      if (start !== offset) {
        await res.body.cancel();
        throw new RestartFromZero(`the server resumed at byte ${start ?? '?'} instead of ${offset}`);
      }
      append = true;
    } else if (offset > 0) {
      // 200 to a Range request: the server sends the whole file again (a CDN that ignores Range).
      hooks.onRestart?.({ file: file.path, reason: 'the server ignored the Range header' });
      offset = 0;
      if (hash) hash = createHash('sha256');
    }

    const lengthHeader = res.headers.get('content-length');
    const bodyLength = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const total = file.size ?? offset + (bodyLength ?? 0);
    const handle = await open(partPath, append ? 'a' : 'w');
    try {
      hooks.onProgress?.({ file: file.path, received: offset, total });
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          armStallTimer();
          if (file.size !== undefined && offset + received + chunk.byteLength > file.size) {
            throw new HubError('checksum', `${file.path}: the hub sent more than the listed ${file.size} bytes.`);
          }
          await handle.write(chunk);
          hash?.update(chunk);
          received += chunk.byteLength;
          countBytes(chunk.byteLength);
          hooks.onProgress?.({ file: file.path, received: offset + received, total });
        }
      } catch (err) {
        if (err instanceof HubError) throw err;
        throw networkError(abort.signal.aborted ? abort.signal.reason : err, file.path);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (file.size !== undefined && offset + received < file.size) {
      // A body that ended as announced but short of the listed size will not get longer by asking again.
      if (bodyLength !== undefined && received === bodyLength) {
        throw new HubError('checksum', `${file.path}: the hub sent ${offset + received} bytes, the listing says ${file.size}.`);
      }
      throw new HubError('network', `${file.path}: the connection closed after ${offset + received} of ${file.size} bytes.`, true);
    }
    return { sha256: hash?.digest('hex') };
  } finally {
    clearTimeout(stallTimer);
  }
}

/** Checks a finished part against the listing; the part is deleted when it does not match. */
async function verifyPart(file: RepoFile, partPath: string, sha256: string | undefined): Promise<string | undefined> {
  const size = (await sizeOf(partPath)) ?? 0;
  let problem: string | undefined;
  if (file.size !== undefined && size !== file.size) {
    problem = `size ${size} bytes, expected ${file.size}`;
  } else if (file.sha256 !== undefined && sha256 !== file.sha256) {
    problem = `sha256 ${sha256}, expected ${file.sha256}`;
  }
  if (problem) await rm(partPath, { force: true });
  return problem;
}

/**
 * Makes `dest/<file.path>` hold the listed file. Returns the bytes fetched over the network
 * (0 when the file was already complete).
 */
export async function downloadFile(target: DownloadTarget, file: RepoFile, hooks: DownloadHooks = {}): Promise<number> {
  const finalPath = join(target.dest, file.path);
  const partPath = `${finalPath}.part`;
  await mkdir(dirname(finalPath), { recursive: true });

  let fetched = 0;
  // Furthest the part has got; a failed try that pushed it further does not count against the retries.
  let furthest = (await sizeOf(partPath)) ?? 0;
  const madeProgress = async (): Promise<boolean> => {
    const size = (await sizeOf(partPath)) ?? 0;
    const moved = size > furthest;
    furthest = Math.max(furthest, size);
    return moved;
  };
  for (let restarts = 0; ; restarts++) {
    let resumed = false;
    let part: PartResult;
    try {
      part = await withRetry(
        target.client,
        async () => {
          resumed ||= ((await sizeOf(partPath)) ?? 0) > 0;
          return fetchIntoPart(target, file, partPath, hooks, (n) => (fetched += n));
        },
        ({ attempt, delayMs, error }) => hooks.onRetry?.({ file: file.path, attempt, delayMs, reason: error.message }),
        madeProgress,
      );
    } catch (err) {
      if (!(err instanceof RestartFromZero) || restarts >= MAX_RESTARTS) {
        if (err instanceof HubError && err.code === 'checksum') await rm(partPath, { force: true });
        throw err instanceof RestartFromZero ? new HubError('network', `${file.path}: ${err.message}`) : err;
      }
      await rm(partPath, { force: true });
      hooks.onRestart?.({ file: file.path, reason: err.message });
      continue;
    }

    const problem = await verifyPart(file, partPath, part.sha256);
    if (!problem) break;
    // A part left by an earlier run may belong to an older version of the file: one clean retry.
    if (resumed && restarts < MAX_RESTARTS) {
      hooks.onRestart?.({ file: file.path, reason: `the resumed download did not verify (${problem})` });
      continue;
    }
    throw new HubError(
      'checksum',
      `${file.path} from ${target.repo} failed verification (${problem}); the partial file was deleted. Run the pull again; if it keeps failing, the file on the hub may be broken.`,
    );
  }
  await rename(partPath, finalPath);
  return fetched;
}

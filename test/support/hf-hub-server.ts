// A local stand-in for the Hugging Face hub on 127.0.0.1, speaking the parts of its HTTP API
// that `pullModel` uses, with the same quirks: the listing at
// /api/models/{repo}/revision/{rev}?blobs=true, /resolve/ URLs that redirect LFS files to a
// "CDN" path (302) and small files to /api/resolve-cache/ (307, relative Location), Range
// requests, X-Error-Code headers, and 401s for private repos. Faults can be injected per file.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubFileDef {
  content: Buffer | string;
  /** Stored with Git LFS (the listing carries sha256 and the file is served from the CDN). Default: true for binary content. */
  lfs?: boolean;
  /** sha256 the listing claims, when it should differ from the real one (a "wrong checksum"). */
  listedSha256?: string;
  /** Size the listing claims, when it should differ from the real one. */
  listedSize?: number;
}

export interface HubRepoDef {
  id: string;
  /** Branches/tags that exist; all point at the same files. Default ['main']. */
  revisions?: string[];
  files: Record<string, Buffer | string | HubFileDef>;
  /** Private repo: requests need `Authorization: Bearer <token>`. */
  token?: string;
  /** Gated repo: 403 with X-Error-Code GatedRepo even with a token (licence not accepted). */
  gated?: boolean;
}

export type HubFault =
  /** Send this many body bytes, then destroy the connection. */
  | { kind: 'drop'; afterBytes: number }
  /** Answer the /resolve/ request with this status. */
  | { kind: 'status'; status: number }
  /** Serve the body with one byte flipped (same length). */
  | { kind: 'corrupt' }
  /** Answer a Range request with 200 and the whole file, like a CDN that ignores Range. */
  | { kind: 'ignore-range' };

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Repo file the request was about, when it was a download. */
  file?: string;
  /** 'listing' | 'resolve' | 'cdn' | 'cache' | 'other' */
  kind: string;
}

export interface FakeHub {
  endpoint: string;
  requests: RecordedRequest[];
  /** Queue a fault for the next `times` (default 1) downloads of repo/file. */
  injectFault(repo: string, file: string, fault: HubFault, times?: number): void;
  /** Drop faults that were queued but not triggered. */
  clearFaults(): void;
  addRepo(def: HubRepoDef): void;
  /** Commit sha the stand-in reports for a repo. */
  commitOf(repo: string): string;
  close(): Promise<void>;
}

interface StoredFile {
  content: Buffer;
  lfs: boolean;
  sha256: string;
  listedSha256: string;
  listedSize: number;
  blobId: string;
}

interface StoredRepo {
  def: HubRepoDef;
  commit: string;
  files: Map<string, StoredFile>;
}

function toStoredFile(value: Buffer | string | HubFileDef): StoredFile {
  const def: HubFileDef = typeof value === 'string' || Buffer.isBuffer(value) ? { content: value } : value;
  const content = Buffer.isBuffer(def.content) ? def.content : Buffer.from(def.content, 'utf8');
  const sha256 = createHash('sha256').update(content).digest('hex');
  const lfs = def.lfs ?? Buffer.isBuffer(def.content);
  const blobId = createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
  return { content, lfs, sha256, listedSha256: def.listedSha256 ?? sha256, listedSize: def.listedSize ?? content.length, blobId };
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header);
  if (!m) return 'invalid';
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'invalid';
  return { start, end };
}

export async function startFakeHub(repos: HubRepoDef[] = []): Promise<FakeHub> {
  const store = new Map<string, StoredRepo>();
  const faults = new Map<string, HubFault[]>();
  const requests: RecordedRequest[] = [];

  const addRepo = (def: HubRepoDef): void => {
    const commit = createHash('sha1').update(`commit:${def.id}`).digest('hex');
    const files = new Map(Object.entries(def.files).map(([path, v]) => [path, toStoredFile(v)]));
    store.set(def.id, { def, commit, files });
  };
  repos.forEach(addRepo);

  const takeFault = (repo: string, file: string, kinds: HubFault['kind'][]): HubFault | undefined => {
    const queue = faults.get(`${repo}\0${file}`);
    const i = queue?.findIndex((f) => kinds.includes(f.kind)) ?? -1;
    if (!queue || i < 0) return undefined;
    return queue.splice(i, 1)[0];
  };

  const sendError = (res: ServerResponse, status: number, code?: string, message = ''): void => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (code) headers['x-error-code'] = code;
    if (message) headers['x-error-message'] = message;
    res.writeHead(status, headers).end(JSON.stringify({ error: message || code || `HTTP ${status}` }));
  };

  /** Auth as the hub does it: private repos look missing (401) without a valid token. */
  const authorize = (req: IncomingMessage, res: ServerResponse, repo: StoredRepo): boolean => {
    const auth = req.headers.authorization;
    if (repo.def.token && auth !== `Bearer ${repo.def.token}`) {
      if (auth) sendError(res, 401, undefined, 'Invalid credentials in Authorization header');
      else sendError(res, 401, 'RepoNotFound', 'Repository not found');
      return false;
    }
    if (repo.def.gated) {
      sendError(res, auth ? 403 : 401, 'GatedRepo', 'Access to this model is restricted: you must accept the conditions');
      return false;
    }
    return true;
  };

  const findRepo = (segments: string[]): { repo: StoredRepo; rest: string[] } | undefined => {
    for (const n of [2, 1]) {
      const repo = store.get(segments.slice(0, n).join('/'));
      if (repo) return { repo, rest: segments.slice(n) };
    }
    return undefined;
  };

  const knowsRevision = (repo: StoredRepo, rev: string): boolean => rev === repo.commit || (repo.def.revisions ?? ['main']).includes(rev);

  /** Serves file bytes with Range support and the faults queued for it. */
  const serveBytes = (req: IncomingMessage, res: ServerResponse, repoId: string, path: string, file: StoredFile): void => {
    const fault = takeFault(repoId, path, ['drop', 'corrupt', 'ignore-range']);
    let body = file.content;
    if (fault?.kind === 'corrupt') {
      body = Buffer.from(body);
      body[Math.floor(body.length / 2)] ^= 0xff;
    }
    const range = fault?.kind === 'ignore-range' ? undefined : parseRange(req.headers.range, body.length);
    if (range === 'invalid') {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      etag: `"${file.lfs ? file.sha256 : file.blobId}"`,
    };
    let status = 200;
    if (range) {
      status = 206;
      body = body.subarray(range.start, range.end + 1);
      headers['content-range'] = `bytes ${range.start}-${range.end}/${file.content.length}`;
    }
    headers['content-length'] = body.length;
    res.writeHead(status, headers);
    if (fault?.kind === 'drop') {
      // Flush the first bytes, give the client a moment to read them (a web stream that errors
      // drops chunks it has not handed out yet), then cut the connection mid-body.
      res.write(body.subarray(0, fault.afterBytes), () => setTimeout(() => res.socket?.destroy(), 100));
      return;
    }
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://hub.local');
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const record: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, kind: 'other' };
    requests.push(record);
    if (req.method !== 'GET') return sendError(res, 405);

    // GET /api/models/{repo}/revision/{rev}?blobs=true
    if (segments[0] === 'api' && segments[1] === 'models') {
      record.kind = 'listing';
      const found = findRepo(segments.slice(2));
      if (found?.rest[0] !== 'revision' || found.rest.length !== 2) {
        if (req.headers.authorization) return sendError(res, 404, 'RepoNotFound', 'Repository not found');
        return sendError(res, 401, 'RepoNotFound', 'Repository not found');
      }
      const { repo, rest } = found;
      if (!authorize(req, res, repo)) return;
      if (!knowsRevision(repo, rest[1])) return sendError(res, 404, 'RevisionNotFound', 'Invalid rev id');
      const blobs = url.searchParams.get('blobs') === 'true';
      const siblings = [...repo.files].map(([rfilename, f]) => ({
        rfilename,
        ...(blobs
          ? {
              blobId: f.lfs ? createHash('sha1').update(`pointer:${f.sha256}`).digest('hex') : f.blobId,
              size: f.listedSize,
              ...(f.lfs ? { lfs: { sha256: f.listedSha256, size: f.listedSize, pointerSize: 134 } } : {}),
            }
          : {}),
      }));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ _id: repo.commit.slice(0, 24), id: repo.def.id, modelId: repo.def.id, sha: repo.commit, private: !!repo.def.token, siblings }));
      return;
    }

    // GET /cdn/{repo…}/{sha256}: the signed-URL target of LFS redirects; needs no auth.
    if (segments[0] === 'cdn') {
      record.kind = 'cdn';
      const found = findRepo(segments.slice(1));
      const entry = found && [...found.repo.files].find(([, f]) => f.sha256 === found.rest[0]);
      if (!found || !entry) return sendError(res, 404);
      record.file = entry[0];
      return serveBytes(req, res, found.repo.def.id, entry[0], entry[1]);
    }

    // GET /api/resolve-cache/models/{repo}/{commit}/{path}: where small files redirect to.
    if (segments[0] === 'api' && segments[1] === 'resolve-cache') {
      record.kind = 'cache';
      const found = findRepo(segments.slice(3));
      const path = found?.rest.slice(1).join('/') ?? '';
      const file = found?.repo.files.get(path);
      if (!found || !file) return sendError(res, 404, 'EntryNotFound');
      if (!authorize(req, res, found.repo)) return;
      record.file = path;
      return serveBytes(req, res, found.repo.def.id, path, file);
    }

    // GET /{repo}/resolve/{rev}/{path}
    const found = findRepo(segments);
    if (found && found.rest[0] === 'resolve' && found.rest.length >= 3) {
      record.kind = 'resolve';
      const { repo, rest } = found;
      const path = rest.slice(2).join('/');
      record.file = path;
      if (!authorize(req, res, repo)) return;
      if (!knowsRevision(repo, rest[1])) return sendError(res, 404, 'RevisionNotFound', 'Invalid rev id');
      const file = repo.files.get(path);
      if (!file) return sendError(res, 404, 'EntryNotFound', 'Entry not found');
      const fault = takeFault(repo.def.id, path, ['status']);
      if (fault?.kind === 'status') return sendError(res, fault.status);
      const headers = { 'x-repo-commit': repo.commit, 'x-linked-size': String(file.content.length) };
      if (file.lfs) {
        const origin = `http://${req.headers.host}`;
        res.writeHead(302, { ...headers, location: `${origin}/cdn/${repo.def.id}/${file.sha256}?X-Amz-Signature=stand-in` }).end();
      } else {
        res.writeHead(307, { ...headers, location: `/api/resolve-cache/models/${repo.def.id}/${repo.commit}/${path}` }).end();
      }
      return;
    }
    if (!found) return sendError(res, 404, 'RepoNotFound', 'Repository not found');
    sendError(res, 404);
  };

  const server = createServer(handle);
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    injectFault(repo, file, fault, times = 1) {
      const key = `${repo}\0${file}`;
      const queue = faults.get(key) ?? [];
      for (let i = 0; i < times; i++) queue.push(fault);
      faults.set(key, queue);
    },
    clearFaults() {
      faults.clear();
    },
    addRepo,
    commitOf(repo) {
      const stored = store.get(repo);
      if (!stored) throw new Error(`no repo ${repo} in the stand-in hub`);
      return stored.commit;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolveClose) => server.close(() => resolveClose()));
    },
  };
}

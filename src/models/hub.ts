// Pulls an ONNX Stable Diffusion export from the Hugging Face hub into a model folder:
// list the repo, keep the files the diffusers ONNX layout needs, download each one resumably
// and verified. `npm run models -- pull` is the command-line face of this module.
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { downloadFile, isComplete } from './hub-download.js';
import { HubError } from './hub-errors.js';
import { withRetry, type HubClient } from './hub-http.js';
import { assertOnnxPipeline, fetchListing, selectFiles } from './hub-listing.js';

export { HubError, KNOWN_GOOD_ONNX_REPOS, type HubErrorCode } from './hub-errors.js';
export { ONNX_PIPELINE_PATTERNS } from './hub-listing.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';

export interface PullProgress {
  file: string;
  /** Bytes of this file on disk so far (a resumed part counts). */
  received: number;
  total: number;
}

/** Milestones of a pull, for log lines; byte-level progress goes to onProgress. */
export type PullEvent =
  | { type: 'plan'; repo: string; revision: string; commit?: string; files: { path: string; size?: number }[]; totalBytes: number }
  | { type: 'skip'; file: string; size?: number }
  | { type: 'start'; file: string; size?: number; resumeFrom: number }
  | { type: 'retry'; file?: string; attempt: number; delayMs: number; reason: string }
  | { type: 'restart'; file: string; reason: string }
  | { type: 'done'; file: string; size?: number };

export interface PullOptions {
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Model folder to fill; created when missing. */
  dest: string;
  /** Hub base URL (default https://huggingface.co; the CLI reads HF_ENDPOINT). */
  endpoint?: string;
  /** Sent as `Authorization: Bearer …` (the CLI reads HF_TOKEN). */
  token?: string;
  /** fnmatch-style patterns that replace the ONNX default selection (as huggingface-cli's --include). */
  include?: string[];
  onProgress?: (p: PullProgress) => void;
  onEvent?: (e: PullEvent) => void;
  fetchImpl?: typeof fetch;
  /** Tries per request, first one included (default 5). */
  attempts?: number;
  /** First retry waits this long, doubling after (default 1000 ms). */
  retryDelayMs?: number;
  /** A response silent for this long is dropped and retried (default 60 s). */
  stallTimeoutMs?: number;
}

export interface PullResult {
  /** Paths (relative to dest) of the files the folder now holds from the repo. */
  files: string[];
  /** Total size of those files. */
  bytes: number;
  /** Bytes that came over the network in this run (0 when everything was already there). */
  downloadedBytes: number;
}

/** Hub repo ids: "name" or "owner/name", letters, digits, '-', '_', '.'. */
export const repoIdSchema = z
  .string()
  .regex(/^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/, 'a hub repo id looks like owner/name (e.g. onnxruntime/sd-turbo)')
  .refine((id) => !id.includes('..') && !id.endsWith('.git'), 'a hub repo id looks like owner/name (e.g. onnxruntime/sd-turbo)');

const optionsSchema = z.object({
  revision: z.string().min(1).max(200).default('main'),
  dest: z.string().min(1, 'dest must name a folder'),
  endpoint: z
    .url({ protocol: /^https?$/, error: 'the hub endpoint must be an http(s) URL' })
    .default(DEFAULT_HF_ENDPOINT)
    .transform((u) => u.replace(/\/+$/, '')),
  token: z.string().optional(),
  include: z.array(z.string().min(1)).optional(),
  attempts: z.number().int().min(1).max(20).default(5),
  retryDelayMs: z.number().min(0).default(1000),
  stallTimeoutMs: z.number().positive().default(60_000),
});

function invalid(error: z.ZodError): HubError {
  const issue = error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return new HubError('invalid', `${where}${issue?.message ?? 'invalid options'}`);
}

/** The folder name `pull` uses when no --dir is given: the repo's last path segment. */
export function defaultModelName(repo: string): string {
  return repo.split('/').pop() ?? repo;
}

export async function pullModel(repo: string, opts: PullOptions): Promise<PullResult> {
  const repoParsed = repoIdSchema.safeParse(repo);
  if (!repoParsed.success) throw invalid(repoParsed.error);
  const parsed = optionsSchema.safeParse({
    ...opts,
    endpoint: opts.endpoint || undefined,
    token: opts.token || undefined,
  });
  if (!parsed.success) throw invalid(parsed.error);
  const o = parsed.data;

  const client: HubClient = {
    endpoint: o.endpoint,
    token: o.token,
    fetchImpl: opts.fetchImpl ?? fetch,
    attempts: o.attempts,
    baseDelayMs: o.retryDelayMs,
  };
  const emit = opts.onEvent ?? (() => {});

  const listing = await withRetry(
    client,
    () => fetchListing(client, repo, o.revision),
    ({ attempt, delayMs, error }) => emit({ type: 'retry', attempt, delayMs, reason: error.message }),
  );
  assertOnnxPipeline(repo, listing);
  const files = selectFiles(listing, o.include);
  if (files.length === 0) {
    throw new HubError('invalid', `No file of ${repo} matches ${o.include?.join(', ') ?? 'the ONNX pipeline patterns'}.`);
  }
  const totalBytes = files.reduce((sum, f) => sum + (f.size ?? 0), 0);
  emit({ type: 'plan', repo, revision: o.revision, commit: listing.commit, files, totalBytes });

  await mkdir(o.dest, { recursive: true });
  const target = {
    client,
    repo,
    // Pin every file to the commit the listing came from, as huggingface_hub's snapshot_download does.
    revision: listing.commit ?? o.revision,
    dest: o.dest,
    stallTimeoutMs: o.stallTimeoutMs,
  };

  let downloadedBytes = 0;
  for (const file of files) {
    const finalPath = join(o.dest, file.path);
    if (await isComplete(finalPath, file)) {
      await rm(`${finalPath}.part`, { force: true });
      emit({ type: 'skip', file: file.path, size: file.size });
      opts.onProgress?.({ file: file.path, received: file.size ?? 0, total: file.size ?? 0 });
      continue;
    }
    downloadedBytes += await downloadFile(target, file, {
      onStart: (e) => emit({ type: 'start', ...e }),
      onProgress: opts.onProgress,
      onRetry: (e) => emit({ type: 'retry', ...e }),
      onRestart: (e) => emit({ type: 'restart', ...e }),
    });
    emit({ type: 'done', file: file.path, size: file.size });
  }
  let bytes = 0;
  for (const file of files) bytes += (await stat(join(o.dest, file.path))).size;
  return { files: files.map((f) => f.path), bytes, downloadedBytes };
}

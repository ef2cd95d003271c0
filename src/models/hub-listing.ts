// The file list of a hub repo at one revision (GET /api/models/{repo}/revision/{rev}?blobs=true,
// as huggingface_hub's model_info(files_metadata=True) asks for it), narrowed to what an ONNX
// diffusers folder needs.
import { z } from 'zod';
import { HubError, knownGoodList } from './hub-errors.js';
import { matchesAny } from './hub-glob.js';
import { authHeaders, errorForStatus, listingUrl, networkError, type HubClient } from './hub-http.js';

export interface RepoFile {
  /** Path inside the repo, '/'-separated. */
  path: string;
  /** Size in bytes, when the hub reported it. */
  size?: number;
  /** sha256 of the content, for files stored with Git LFS / Xet. */
  sha256?: string;
}

export interface RepoListing {
  /** Commit the revision points at; downloads use it so every file comes from the same commit. */
  commit?: string;
  files: RepoFile[];
}

/** What an ONNX diffusers folder needs; other files (README, PyTorch weights, …) stay behind. */
export const ONNX_PIPELINE_PATTERNS: readonly string[] = [
  'model_index.json',
  '*/config.json',
  'scheduler/*',
  'tokenizer*/*',
  '*/model.onnx',
  '*/model.onnx_data',
  '*/model.onnx.data',
  '*/weights.pb',
  'feature_extractor/*',
  'safety_checker/*',
];

const siblingSchema = z.object({
  rfilename: z.string().min(1),
  size: z.number().int().nonnegative().nullish(),
  lfs: z
    .object({
      sha256: z.string().regex(/^[0-9a-f]{64}$/i),
      size: z.number().int().nonnegative(),
    })
    .nullish(),
});

const listingSchema = z.object({
  sha: z.string().nullish(),
  siblings: z.array(siblingSchema, { error: 'the hub listing has no "siblings" array' }),
});

/** Rejects paths that would land outside the model folder or cannot be a file name. */
export function checkRepoPath(path: string): string {
  const segments = path.split('/');
  const bad =
    path.startsWith('/') || path.includes('\\') || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..') || /^[A-Za-z]:/.test(path);
  if (bad) throw new HubError('invalid', `The hub listing contains an unsafe file path: ${JSON.stringify(path)}`);
  return path;
}

export async function fetchListing(client: HubClient, repo: string, revision: string): Promise<RepoListing> {
  const url = listingUrl(client, repo, revision);
  let res: Response;
  try {
    res = await client.fetchImpl(url, { headers: { ...authHeaders(client), accept: 'application/json' } });
  } catch (err) {
    throw networkError(err, `the file list of ${repo}`);
  }
  if (!res.ok) throw errorForStatus(res, { repo, revision }, client);
  let json: unknown;
  try {
    json = await res.json();
  } catch (err) {
    throw networkError(err, `the file list of ${repo}`);
  }
  const parsed = listingSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HubError('invalid', `Unexpected file list from ${url}: ${issue?.path.join('.') || 'body'}: ${issue?.message}`);
  }
  return {
    commit: parsed.data.sha ?? undefined,
    files: parsed.data.siblings.map((s) => ({
      path: checkRepoPath(s.rfilename),
      size: s.lfs?.size ?? s.size ?? undefined,
      sha256: s.lfs?.sha256.toLowerCase(),
    })),
  };
}

/** Refuses repos without a denoiser (unet/model.onnx, or SD3's transformer/model.onnx), with a hint at what the repo is instead. */
export function assertOnnxPipeline(repo: string, listing: RepoListing): void {
  const paths = listing.files.map((f) => f.path);
  if (paths.includes('unet/model.onnx') || paths.includes('transformer/model.onnx')) return;
  const suggestion = `Pull a known-good ONNX export instead (${knownGoodList()}), or export this one yourself with \`optimum-cli export onnx --model ${repo} --task text-to-image models/<name>\`.`;
  const nested = paths.find((p) => p.endsWith('/unet/model.onnx') || p.endsWith('/transformer/model.onnx'));
  if (nested) {
    // Stability's SD3 *_amdgpu repos keep one diffusers folder per I/O precision (…_io16/, …_io32/).
    const folder = nested.slice(0, nested.lastIndexOf('/', nested.lastIndexOf('/') - 1));
    throw new HubError(
      'not-onnx',
      `${repo} has its ONNX ${nested.includes('/transformer/') ? 'transformer' : 'UNet'} at ${nested}, not at the repo's top: pull takes the diffusers layout only there. ` +
        `If ${folder}/ is a complete diffusers folder (as the …_io16/ and …_io32/ folders of Stability's SD3 *_amdgpu repos are), download it yourself ` +
        `(huggingface-cli download ${repo} --include '${folder}/*') and move it into MODELS_DIR. Otherwise: ${suggestion}`,
    );
  }
  const pytorch = paths.some((p) => /\.(safetensors|bin|ckpt|pt|pth)$/.test(p));
  const kind = pytorch ? 'it is a PyTorch (diffusers/safetensors) repo, not an ONNX export' : 'it is not an ONNX Stable Diffusion export';
  throw new HubError('not-onnx', `${repo} has no unet/model.onnx: ${kind}. ${suggestion}`);
}

export function selectFiles(listing: RepoListing, include?: readonly string[]): RepoFile[] {
  const patterns = include && include.length > 0 ? include : ONNX_PIPELINE_PATTERNS;
  return listing.files.filter((f) => matchesAny(f.path, patterns));
}

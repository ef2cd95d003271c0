// Errors of the hub downloader. Each carries a message a user can act on, and says whether
// trying again later could help (network faults, 5xx) so the retry loop needs no guessing.

export type HubErrorCode =
  | 'not-found' // repo, revision or file does not exist
  | 'unauthorized' // 401/403: private or gated repo, or a bad token
  | 'not-onnx' // the repo has no ONNX diffusers layout
  | 'checksum' // bytes on disk do not match the hub's size or sha256
  | 'network' // connection refused, reset, stalled, or closed early
  | 'http' // any other unexpected status
  | 'invalid'; // bad input or a listing we cannot use

export class HubError extends Error {
  override readonly name = 'HubError';

  constructor(
    readonly code: HubErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** ONNX exports in the diffusers layout that this project is known to load (see models/README.md). */
export const KNOWN_GOOD_ONNX_REPOS: readonly { repo: string; note: string }[] = [
  { repo: 'onnxruntime/sd-turbo', note: 'SD-Turbo, 1–4 steps at 512×512' },
  { repo: 'onnx-community/stable-diffusion-v1-5-ONNX', note: 'Stable Diffusion 1.5, fp32, about 5.5 GB' },
];

export function knownGoodList(): string {
  return KNOWN_GOOD_ONNX_REPOS.map((r) => r.repo).join(' or ');
}

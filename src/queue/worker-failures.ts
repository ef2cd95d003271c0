// What users read when a device worker dies or stalls under their job, shared by both backends.
import { formatDuration } from '../durations.js';

/** Why a job's worker died, phrased for the user; `final` when it will not be retried. */
export function workerDeathMessage(why: 'crashed' | string, final: boolean): string {
  return final
    ? `The image worker ${why} twice while running this job, so it was not retried. Try smaller images, fewer steps or fewer images.`
    : `The image worker ${why} while running this job; retrying it once.`;
}

export function stallReason(stallTimeoutMs: number): string {
  return `made no progress for ${formatDuration(stallTimeoutMs)}`;
}

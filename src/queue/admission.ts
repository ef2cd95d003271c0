// The caps on waiting jobs, shared by both backends so users read the same messages.
import { QueueLimitError } from './types.js';

export interface Caps {
  MAX_QUEUE: number;
  MAX_QUEUED_PER_USER: number;
}

/** Throws QueueLimitError when one more waiting job for this user would exceed a cap. */
export function assertWithinCaps(userWaiting: number, totalWaiting: number, caps: Caps): void {
  if (userWaiting >= caps.MAX_QUEUED_PER_USER) {
    throw new QueueLimitError(
      'user_cap',
      `You already have ${userWaiting} jobs waiting (the limit); wait for one to finish.`,
    );
  }
  if (totalWaiting >= caps.MAX_QUEUE) {
    throw new QueueLimitError(
      'global_cap',
      `The queue is full (${caps.MAX_QUEUE} jobs waiting); try again in a few minutes.`,
    );
  }
}

/** Why a job's worker died, phrased for the user; `final` when it will not be retried. */
export function workerDeathMessage(why: 'crashed' | string, final: boolean): string {
  return final
    ? `The image worker ${why} twice while running this job, so it was not retried. Try smaller images, fewer steps or fewer images.`
    : `The image worker ${why} while running this job; retrying it once.`;
}

export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export function stallReason(stallTimeoutMs: number): string {
  return `made no progress for ${formatSeconds(stallTimeoutMs)}`;
}

// The caps on waiting jobs, shared by both backends so users read the same messages.
import { QueueLimitError } from './types.js';

export interface Caps {
  MAX_QUEUE: number;
  MAX_QUEUED_PER_USER: number;
}

/** Throws QueueLimitError when one more waiting job for this user would exceed a cap. */
export function assertWithinCaps(userWaiting: number, totalWaiting: number, caps: Caps): void {
  if (userWaiting >= caps.MAX_QUEUED_PER_USER) {
    throw new QueueLimitError('user_cap', `You already have ${userWaiting} jobs waiting (the limit); wait for one to finish.`);
  }
  if (totalWaiting >= caps.MAX_QUEUE) {
    throw new QueueLimitError('global_cap', `The queue is full (${caps.MAX_QUEUE} jobs waiting); try again in a few minutes.`);
  }
}

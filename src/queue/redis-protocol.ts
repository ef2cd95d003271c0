// What travels through Redis between the bot (producer) and worker hosts (`npm run worker`):
// BullMQ job data, progress payloads and return values, all validated on arrival because the
// two sides may run different builds. Images travel as base64: a worker host may be elsewhere.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { jobRequestSchema } from './ipc.js';

/** Job name on the BullMQ queue (one queue; the name only labels jobs in dashboards). */
export const JOB_NAME = 'imagine';
/** Custom event (QueueEventsProducer) asking worker hosts to stop a running job. */
export const CANCEL_EVENT = 'imagine-cancel';
/** failedReason of a job that stopped because it was cancelled. */
export const CANCELLED_REASON = 'imagine:cancelled';
/** BullMQ attempts per job: the first run and one retry after a worker death. */
export const JOB_ATTEMPTS = 2;
/** Events kept in the queue's stream (progress previews make them large). */
export const EVENTS_MAX_LEN = 2000;
/** A device heartbeat older than this is treated as gone. */
export const HEARTBEAT_STALE_MS = 15_000;

export const redisJobDataSchema = z.object({
  id: z.string(),
  kind: z.enum(['txt2img', 'img2img', 'upscale']),
  model: z.string(),
  request: jobRequestSchema,
  upscaleFactor: z.union([z.literal(2), z.literal(4)]).optional(),
  /** Input image, base64. */
  initImage: z.string().optional(),
  /** Inpainting mask, base64. */
  maskImage: z.string().optional(),
  /** ControlNet control image, base64. */
  controlImage: z.string().optional(),
  userId: z.string(),
  /** The bot process (shard) that submitted the job and reports its progress. */
  owner: z.string(),
});
export type RedisJobData = z.infer<typeof redisJobDataSchema>;

const previewSchema = z.object({ width: z.number().int(), height: z.number().int(), rgb: z.string() });

export const redisProgressSchema = z.object({
  /** Worker name: `<host>/<device>`. */
  device: z.string(),
  /** 1-based run number (BullMQ attemptsMade + 1). */
  attempt: z.number().int().min(1),
  /** 0 when the run starts. */
  step: z.number().int().min(0),
  totalSteps: z.number().int().min(0),
  preview: previewSchema.optional(),
});
export type RedisProgress = z.infer<typeof redisProgressSchema>;

export const redisResultSchema = z.object({
  device: z.string(),
  /** PNG bytes, base64, in order. */
  images: z.array(z.string()),
  seeds: z.array(z.number()),
  /** Safety-checker flags per image; older worker hosts send none. */
  nsfw: z.array(z.boolean()).default([]),
  timings: z.object({ totalMs: z.number(), stepMs: z.number() }),
});
export type RedisResult = z.infer<typeof redisResultSchema>;

export const heartbeatSchema = z.object({
  device: z.string(),
  at: z.number(),
  jobId: z.string().optional(),
  /** When the current job started on this device (epoch ms). */
  startedAt: z.number().optional(),
  loadedModels: z.array(z.string()),
  /** Model folders this host can run. */
  models: z.array(z.string()),
  /** The device worker's process id on its host (diagnostics, tests). */
  pid: z.number().int().optional(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** Redis key of the hash where worker hosts publish one heartbeat per device. */
export function devicesKey(prefix: string, queueName: string): string {
  return `${prefix}:${queueName}:devices`;
}

// ---- model lanes (affinity) -------------------------------------------------------------------
// Jobs that need a model wait on that model's own BullMQ queue (a "lane"), so a device can take
// jobs for the models it has loaded first (src/queue/affinity.ts). Upscales need no model and,
// like jobs from builds before lanes, use the base queue, which also carries the custom events.

/** Custom event on the base queue: a bot queued a job on a model's lane (payload: `model`). */
export const LANE_EVENT = 'imagine-lane';

/** Redis key of the set of models bots have queued jobs for (worker hosts open their lanes). */
export function lanesKey(prefix: string, queueName: string): string {
  return `${prefix}:${queueName}:lanes`;
}

/** The BullMQ queue of `model`'s jobs: `<base>.model.<name>` (BullMQ names cannot hold ':'). */
export function laneName(baseQueue: string, model: string): string {
  const safe = model.replace(/[^\w.-]/g, '_');
  const suffix = safe === model ? '' : `-${createHash('sha1').update(model).digest('hex').slice(0, 8)}`;
  return `${baseQueue}.model.${safe}${suffix}`;
}

/** Where a job waits: its model's lane, or the base queue for upscales. */
export function laneOf(baseQueue: string, job: { kind: string; model: string }): string {
  return job.kind === 'upscale' ? baseQueue : laneName(baseQueue, job.model);
}

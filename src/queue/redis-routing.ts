// Where a new job goes on the Redis backend: its model (from what worker hosts advertise), its
// lane (model affinity), its priority (fair rounds between users), and the add itself.
import type { Job, QueueEventsProducer } from 'bullmq';
import type { JobBook } from './job-book.js';
import { resolveModelName } from './model-names.js';
import type { LaneSet } from './redis-lanes.js';
import { EVENTS_MAX_LEN, JOB_ATTEMPTS, JOB_NAME, LANE_EVENT, laneName, redisJobDataSchema, type Heartbeat, type RedisJobData } from './redis-protocol.js';
import type { JobRecord } from './types.js';

/** BullMQ priorities run 1 (first) to 2^21. */
const MAX_PRIORITY = 2_097_151;
const RESULT_TTL_S = 7 * 86_400;

/**
 * Rounds: a job's priority is 1 + how many jobs its user already has running or waiting, so
 * everyone's first job goes before anyone's second. Never ahead of the user's own waiting
 * jobs; equal priorities are first come, first served. `mine`: the user's waiting jobs.
 */
export function roundPriority(waiting: Job[], active: Job[], userId: string): { mine: number; priority: number } {
  const ofUser = (j: Job) => (j.data as Partial<RedisJobData>).userId === userId;
  const mine = waiting.filter(ofUser);
  const round = 1 + mine.length + active.filter(ofUser).length;
  const priority = Math.min(
    MAX_PRIORITY,
    mine.reduce((p, j) => Math.max(p, (j.priority || 0) + 1), round),
  );
  return { mine: mine.length, priority };
}

/**
 * Affinity (src/queue/affinity.ts): a model that some live device has loaded waits on its own
 * lane, where those devices take it first; any other job waits on the base queue, where the
 * device idle longest takes it (BullMQ serves the longest-blocked worker first).
 */
export function routeOf(devices: Heartbeat[], record: Pick<JobRecord, 'kind' | 'model'>, baseQueue: string): string {
  const warm = record.kind !== 'upscale' && devices.some((d) => d.loadedModels.includes(record.model));
  return warm ? laneName(baseQueue, record.model) : baseQueue;
}

/** The model folder a request names, from the folders live worker hosts advertise. */
export function resolveRedisModel(devices: Heartbeat[], defaultModel: string | undefined, requested: string): string {
  // With no worker host alive yet, any name may wait for one.
  const known = [...new Set(devices.flatMap((d) => d.models))].sort();
  const fallback = defaultModel ?? known[0];
  return resolveModelName(requested, fallback, known.length > 0 ? known : undefined, 'no worker host');
}

export interface EnqueueContext {
  lanes: LaneSet;
  producer: QueueEventsProducer;
  book: JobBook;
  owner: string;
  baseQueue: string;
  devices: Heartbeat[];
}

/** Adds the job to its lane (registering a new lane first) with its input image. */
export async function enqueueJob(ctx: EnqueueContext, record: JobRecord, priority: number, initImage?: Uint8Array): Promise<void> {
  const image = initImage ?? (record.initImagePath ? await ctx.book.files.read(record.initImagePath) : undefined);
  const mask = record.maskImagePath ? await ctx.book.files.read(record.maskImagePath) : undefined;
  // Checked (and typed) by the schema on the way out, as the worker host checks it on the way in.
  const data = {
    id: record.id,
    kind: record.kind,
    model: record.model,
    request: record.request,
    upscaleFactor: record.upscaleFactor,
    initImage: image ? Buffer.from(image).toString('base64') : undefined,
    maskImage: mask ? Buffer.from(mask).toString('base64') : undefined,
    controlImage: record.controlImagePath ? (await ctx.book.files.read(record.controlImagePath)).toString('base64') : undefined,
    userId: record.requester.userId,
    owner: ctx.owner,
  };
  const route = routeOf(ctx.devices, record, ctx.baseQueue);
  const lane = await ctx.lanes.open(route);
  const onLane = route !== ctx.baseQueue;
  if (onLane) await ctx.lanes.register(record.model);
  await lane.queue.add(JOB_NAME, redisJobDataSchema.parse(data), {
    jobId: record.id,
    priority,
    attempts: JOB_ATTEMPTS,
    // The bot removes a job once it has stored the result; these only sweep up results no
    // bot collected (its job was given up on) after a week.
    removeOnComplete: { age: RESULT_TTL_S },
    removeOnFail: { age: RESULT_TTL_S },
  });
  // After the add: worker hosts open the lane if it is new, and idle devices without the model
  // read when the job was queued, to know when they may take it.
  if (onLane) await ctx.producer.publishEvent({ eventName: LANE_EVENT, model: record.model }, EVENTS_MAX_LEN);
}

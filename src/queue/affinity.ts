// Model affinity on the Redis backend. Worker hosts pull jobs, so the local rule "a job goes to
// a device that already has its model loaded, otherwise to the least loaded one" is split in two:
// - The bot routes (redis-queue.ts, routeOf): a job whose model some live device has loaded (per
//   the heartbeats) waits on that model's lane (its own BullMQ queue); any other job waits on the
//   base queue, which every idle device takes from, the one idle longest first.
// - Each idle device decides which lanes it takes jobs from (planLanes below; BullMQ's per-Worker
//   pause/resume does it):
//   1. the lanes of the models it has loaded, at once;
//   2. another lane once that lane's next job has waited graceMs per model the device has loaded
//      (a quarter of graceMs when it has none loaded): an idle device that has the model wins,
//      and else the device with the fewest models loaded (the least loaded) takes the job first;
//   3. but when a lane's (or the base queue's) next job has waited maxWaitMs, the next device
//      to free up takes from that lane only, loaded lanes closed, so one model's steady backlog
//      on the devices that have it loaded cannot starve another model's users.
//   The base queue is always open on an idle device.

export interface AffinitySettings {
  /** How long a job waits, per model a device has loaded, before that device takes it without its model loaded (0: no affinity). */
  graceMs: number;
  /** A lane whose next job has waited this long is served first by the next device that frees up. */
  maxWaitMs: number;
}

export interface LanePlan {
  /** Models whose lanes the device takes jobs from now (the base queue is always open). */
  open: string[];
  /** When to plan again (epoch ms): a closed lane's next job reaches its threshold then. */
  recheckAt?: number;
}

export interface LaneState {
  /** Models the device can run that have a lane. */
  lanes: readonly string[];
  /** Models in the device's memory. */
  loaded: readonly string[];
  /** When the next waiting job of each lane was queued (lanes with none waiting left out). */
  headSince: ReadonlyMap<string, number>;
  /** The same for the base queue. */
  baseSince?: number;
  now: number;
}

/** How soon a device that is still starving-checking looks again. */
const STARVING_RECHECK_MS = 250;

/** Which lanes an idle device takes jobs from now, and when to look again. */
export function planLanes(state: LaneState, settings: AffinitySettings): LanePlan {
  const { lanes, loaded, headSince, now } = state;
  if (settings.graceMs <= 0) return { open: [...lanes] };
  const waited = (since: number | undefined) => (since === undefined ? -1 : now - since);
  const starving = lanes.filter((m) => waited(headSince.get(m)) >= settings.maxWaitMs);
  if (starving.length > 0 || waited(state.baseSince) >= settings.maxWaitMs) {
    return { open: starving, recheckAt: now + STARVING_RECHECK_MS };
  }
  const threshold = loaded.length === 0 ? settings.graceMs / 4 : settings.graceMs * loaded.length;
  const open = lanes.filter((m) => loaded.includes(m) || waited(headSince.get(m)) >= threshold);
  const due = lanes.filter((m) => !open.includes(m) && headSince.has(m)).map((m) => headSince.get(m)! + threshold);
  return due.length > 0 ? { open, recheckAt: Math.min(...due) } : { open };
}

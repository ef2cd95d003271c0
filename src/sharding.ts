// Which Discord shard this process is. discord.js' ShardingManager (`npm run start:sharded`)
// starts each shard process with SHARDS=<id> and SHARD_COUNT=<n> (the discord.js Client reads
// the same two variables); `npm start` runs one process that is every shard.

export interface ShardIdentity {
  id: number;
  count: number;
}

/** This process's shard, or undefined when it is not one shard of several processes. */
export function shardOfThisProcess(env: NodeJS.ProcessEnv = process.env): ShardIdentity | undefined {
  const id = env.SHARDS?.trim();
  if (!id || !/^\d+$/.test(id)) return undefined;
  const count = Number(env.SHARD_COUNT);
  return { id: Number(id), count: Number.isInteger(count) && count > Number(id) ? count : Number(id) + 1 };
}

/** The queue owner of a shard process when QUEUE_OWNER is not set (src/queue/README.md). */
export function shardOwner(shard: ShardIdentity): string {
  return `shard-${shard.id}`;
}

/**
 * Owners whose unfinished jobs this process takes over at start, because no process owns them
 * any more: shard 0 takes those of shards beyond the current count and of an unsharded `bot`;
 * an unsharded bot takes every shard's. Custom QUEUE_OWNERs never take others' jobs.
 */
export function ownsOrphansOf(owner: string, shard: ShardIdentity | undefined, customOwner: boolean): boolean {
  if (customOwner) return false;
  const m = /^shard-(\d+)$/.exec(owner);
  if (!shard) return m !== null;
  if (shard.id !== 0) return false;
  return owner === 'bot' || (m !== null && Number(m[1]) >= shard.count);
}

/** Several shard processes cannot share one metrics port: shard k serves on METRICS_PORT + k. */
export function metricsPortOf(port: number, shard: ShardIdentity | undefined): number {
  return port === 0 || !shard ? port : port + shard.id;
}

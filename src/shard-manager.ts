// `npm run start:sharded`: the bot under discord.js' ShardingManager, one process per Discord
// shard, each running src/main.ts (what `npm start` runs) with SHARDS=<id> SHARD_COUNT=<n>.
// The shards share the job queue through Redis (QUEUE_BACKEND=redis) and DATA_DIR; each one
// reports the jobs submitted in its guilds (src/queue/README.md, "Discord shards").
import './config/load-env.js';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Routes, ShardingManager, type Shard } from 'discord.js';
import { z } from 'zod';
import { createRest, describeDiscordError } from './bot/client.js';
import { exitWithError, StartupError } from './process-exit.js';
import { loadDiscordConfig, type DiscordConfig } from './config/discord.js';
import { parseEnv } from './config/env.js';
import { logger } from './log.js';

const shardEnvSchema = z.object({
  /** How many shards: a number, or `auto` for what Discord recommends (GET /gateway/bot). */
  DISCORD_SHARDS: z
    .string()
    .trim()
    .default('auto')
    .refine((v) => v === 'auto' || /^[1-9]\d*$/.test(v), 'must be auto or a whole number ≥ 1')
    .transform((v) => (v === 'auto' ? ('auto' as const) : Number(v))),
  /** Pause between shard starts: Discord allows one IDENTIFY per 5 s (max_concurrency 1). */
  SHARD_SPAWN_DELAY_MS: z.coerce.number().int().min(0).default(5500),
});

/** How long a shard process may take to start (queue, Redis, command check, login). */
const SHARD_READY_TIMEOUT_MS = 120_000;
/** How long shards get to shut down cleanly before they are killed. */
const SHARD_STOP_GRACE_MS = 30_000;

async function recommendedShards(config: DiscordConfig): Promise<number> {
  // discord.js' own lookup always asks discord.com; this one honours DISCORD_API_URL.
  try {
    const { shards } = (await createRest(config).get(Routes.gatewayBot())) as { shards: number };
    return Math.max(1, shards);
  } catch (err) {
    throw new StartupError(describeDiscordError(err, config.apiUrl), { cause: err });
  }
}

/** The script each shard runs: main.ts under tsx (`npm run start:sharded`), main.js when built. */
function shardScript(): { file: string; execArgv: string[] } {
  const ext = extname(fileURLToPath(import.meta.url));
  const file = fileURLToPath(new URL(`./main${ext}`, import.meta.url));
  // tsx resolved from here, not from the working directory (which may be anywhere).
  return { file, execArgv: ext === '.ts' ? ['--import', import.meta.resolve('tsx')] : [] };
}

function waitForExit(shard: Shard, graceMs: number): Promise<void> {
  const child = shard.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const config = loadDiscordConfig();
  const env = parseEnv(shardEnvSchema);
  const total = env.DISCORD_SHARDS === 'auto' ? await recommendedShards(config) : env.DISCORD_SHARDS;
  if (total > 1 && config.app.QUEUE_BACKEND !== 'redis') {
    throw new StartupError(
      `${total} shards need QUEUE_BACKEND=redis and REDIS_URL: with the local backend every shard process would start its own device workers. Set them, and run \`npm run worker\` where the GPUs are (src/queue/README.md).`,
    );
  }
  if (total > 1 && config.app.QUEUE_OWNER !== undefined) {
    throw new StartupError('Leave QUEUE_OWNER unset when sharding: each shard process owns the jobs of its guilds as shard-<id>.');
  }

  const { file, execArgv } = shardScript();
  const manager = new ShardingManager(file, { totalShards: total, token: config.token, execArgv, respawn: true, mode: 'process' });
  manager.on('shardCreate', (shard) => {
    shard.on('death', (child) => logger.warn({ shard: shard.id, code: 'exitCode' in child ? child.exitCode : undefined }, 'shard process exited'));
    shard.on('ready', () => logger.info({ shard: shard.id, of: total }, 'shard ready'));
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping the shards');
    manager.respawn = false;
    // Each shard closes its queue and logs out on SIGTERM (src/main.ts).
    void Promise.all([...manager.shards.values()].map((s) => waitForExit(s, SHARD_STOP_GRACE_MS))).finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  logger.info({ shards: total }, 'starting shards');
  try {
    await manager.spawn({ amount: total, delay: env.SHARD_SPAWN_DELAY_MS, timeout: SHARD_READY_TIMEOUT_MS });
  } catch (err) {
    if (stopping) return;
    manager.respawn = false;
    await Promise.all([...manager.shards.values()].map((s) => waitForExit(s, 5000)));
    throw new StartupError(`A shard did not start (${(err as Error).message}); its own error is logged above.`, { cause: err });
  }
  logger.info({ shards: total }, 'all shards ready');
}

main().catch((err: unknown) => exitWithError(err, 'imagine-bot (sharded)'));

// Discord sharding on the Redis backend, end to end: `npm run start:sharded` (discord.js'
// ShardingManager, one src/main.ts process per shard) against the Discord stand-in with two
// guilds on different shards, a worker host (`npm run worker`) in another process, one Redis.
// Each job's result is posted once, by the shard whose guild asked; after resharding to one
// shard, that shard takes over the jobs of the shard that is gone and its buttons still work.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { botEnv, createWorkspace, spawnBot, type BotProcess, type BotWorkspace } from '../bot/support/bot-process.js';
import { startDiscordStandIn, type DiscordStandIn, type InteractionHandle, type ViewMessage } from '../support/discord/index.js';
import { redisSkipReason, startRedis, startWorkerHost, type RedisServer, type WorkerHostProcess } from './redis-support.js';

const skip = redisSkipReason();

/** A snowflake whose timestamp part is `ms`: Discord puts its guild on shard `ms % n`. */
const guildId = (ms: bigint) => ((ms << 22n) | 1n).toString();
const GUILDS = { zero: guildId(1_000_000_000n), one: guildId(1_000_000_001n) };

const isResult = (m: ViewMessage) => !m.loading && !m.ephemeral && !m.deleted && m.embeds.length > 0 && m.attachments.length > 0;

describe('Discord shards sharing the Redis queue', { skip, timeout: 240_000 }, () => {
  let discord: DiscordStandIn;
  let ws: BotWorkspace;
  let redis: RedisServer;
  let host: WorkerHostProcess | undefined;
  let bot: BotProcess | undefined;
  /** The first /imagine in guild One (shard 1 of 2) and its result. */
  let fromShardOne: { handle: InteractionHandle; result: ViewMessage } | undefined;

  const env = (extra: Record<string, string>) =>
    botEnv(discord, ws, {
      QUEUE_BACKEND: 'redis',
      REDIS_URL: redis.url,
      DEVICES: 'noop:0',
      SHARD_SPAWN_DELAY_MS: '0',
      PROGRESS_EDIT_INTERVAL_MS: '200',
      ...extra,
    });
  const workerHost = () => startWorkerHost({ REDIS_URL: redis.url, DEVICES: 'noop:0', NOOP_STEP_MS: '10', MODELS_DIR: ws.modelsDir, WORKER_NAME: 'gpu' });

  /** Starts `npm run start:sharded` and waits until every shard is connected with `count` shards. */
  async function startSharded(extra: Record<string, string>, count: number): Promise<BotProcess> {
    const from = discord.gateway.identifies.length;
    const proc = spawnBot(env(extra), 'src/shard-manager.ts');
    const ready = discord.waitFor(
      () => {
        const fresh = discord.gateway.sessions().filter((s) => s.connected && s.shard[1] === count);
        const registered = discord.commands().some((c) => (c as { name?: string }).name === 'imagine');
        return discord.gateway.identifies.length >= from + count && fresh.length === count && registered;
      },
      { timeoutMs: 150_000, message: `${count} shard(s) to connect and /imagine to be registered` },
    );
    const died = proc.exited.then((code) => {
      throw new Error(`the shard manager exited with ${code}`);
    });
    try {
      await Promise.race([ready, died]);
    } catch (err) {
      ready.catch(() => undefined);
      await proc.stop(2000);
      throw new Error(`${(err as Error).message}\n--- output ---\n${proc.output()}`);
    }
    died.catch(() => undefined);
    return proc;
  }

  async function imagine(guild: 'Zero' | 'One', prompt: string): Promise<InteractionHandle> {
    const handle = await discord.slash('imagine', { prompt, steps: 3, seed: 7 }, { guild, user: guild === 'Zero' ? 'alice' : 'bob' });
    await handle.ack();
    return handle;
  }

  /** Result messages of `handle`: the deferred reply, or channel messages replying to it. */
  function resultsOf(handle: InteractionHandle): ViewMessage[] {
    const original = handle.original();
    if (!original) return [];
    return discord.messages(handle.channelId).filter((m) => (m.id === original.id || m.reference?.messageId === original.id) && isResult(m));
  }

  async function resultOf(handle: InteractionHandle): Promise<ViewMessage> {
    return discord.waitFor(() => resultsOf(handle)[0], { timeoutMs: 60_000, message: `the result of ${handle.id}\n${bot?.output() ?? ''}` });
  }

  /** Which shard's session the stand-in sent the interaction to. */
  function shardThatGot(handle: InteractionHandle): number | undefined {
    const sent = discord.gateway.dispatches.find((d) => d.t === 'INTERACTION_CREATE' && (d.d as { id?: string }).id === handle.id);
    return discord.gateway.sessions().find((s) => s.id === sent?.sessionId)?.shard[0];
  }

  function jobRows(): { owner: string; device: string | null; state: string; prompt: string }[] {
    const db = new Database(join(ws.dataDir, 'bot.sqlite'), { readonly: true });
    try {
      const rows = db.prepare('SELECT owner, device, state, request_json FROM jobs ORDER BY seq').all() as {
        owner: string;
        device: string | null;
        state: string;
        request_json: string;
      }[];
      return rows.map((r) => ({ owner: r.owner, device: r.device, state: r.state, prompt: (JSON.parse(r.request_json) as { prompt: string }).prompt }));
    } finally {
      db.close();
    }
  }

  before(async () => {
    redis = await startRedis();
    discord = await startDiscordStandIn({
      shards: 2,
      guilds: [
        { id: GUILDS.zero, name: 'Zero', channels: [{ name: 'general' }], members: [{ username: 'alice' }] },
        { id: GUILDS.one, name: 'One', channels: [{ name: 'lobby' }], members: [{ username: 'bob' }] },
      ],
    });
    ws = await createWorkspace();
    host = await workerHost();
    bot = await startSharded({ DISCORD_SHARDS: 'auto' }, 2);
  });

  after(async () => {
    await bot?.stop();
    await host?.stop();
    await discord?.close();
    await redis?.stop();
    ws?.cleanup();
  });

  test('two guilds on two shards: each /imagine is answered by its shard and its result posted once', async () => {
    assert.deepEqual(
      discord.gateway
        .sessions()
        .filter((s) => s.connected)
        .map((s) => s.shard)
        .sort(),
      [
        [0, 2],
        [1, 2],
      ],
    );
    const [zero, one] = await Promise.all([imagine('Zero', 'a fox on shard zero'), imagine('One', 'an owl on shard one')]);
    assert.equal(shardThatGot(zero), 0);
    assert.equal(shardThatGot(one), 1);
    const [zeroResult, oneResult] = await Promise.all([resultOf(zero), resultOf(one)]);
    // Long enough for a second shard that (wrongly) reported the job too.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(resultsOf(zero).length, 1, 'one result in guild Zero');
    assert.equal(resultsOf(one).length, 1, 'one result in guild One');
    assert.deepEqual(
      jobRows()
        .map((r) => [r.prompt, r.owner, r.device, r.state])
        .sort(),
      [
        ['a fox on shard zero', 'shard-0', 'gpu/noop:0', 'done'],
        ['an owl on shard one', 'shard-1', 'gpu/noop:0', 'done'],
      ],
      'each shard owns its guild’s job, and the worker host ran both through Redis',
    );
    assert.ok(zeroResult && oneResult);
    fromShardOne = { handle: one, result: oneResult };
  });

  test('resharding to one shard: shard 0 takes over a queued job of shard 1 and its buttons work', async () => {
    assert.ok(fromShardOne, 'needs the first test’s result');
    // A job shard 1 queues while no worker host runs, then the bot comes back with one shard.
    await host!.stop();
    host = undefined;
    const pending = await imagine('One', 'a heron left behind');
    await discord.waitFor(() => jobRows().some((r) => r.prompt === 'a heron left behind' && r.owner === 'shard-1' && r.state === 'queued'), 10_000);
    await bot!.stop();
    bot = await startSharded({ DISCORD_SHARDS: '1' }, 1);
    host = await workerHost();
    await resultOf(pending);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(resultsOf(pending).length, 1, 'the adopted job’s result is posted once');
    assert.equal(jobRows().find((r) => r.prompt === 'a heron left behind')?.owner, 'shard-0');

    // A button on a result of shard 1, clicked now that shard 0 gets guild One.
    const { result } = fromShardOne;
    const reroll = result.buttons.find((b) => (b.label ?? b.emoji?.name) === '🔄');
    assert.ok(reroll?.customId, `a 🔄 button (buttons: ${result.buttons.map((b) => b.label ?? b.emoji?.name).join(' ')})`);
    const seen = new Set(discord.messages(result.channelId).map((m) => m.id));
    const click = await discord.clickButton(result, reroll.customId, { user: 'bob' });
    await click.ack();
    assert.equal(shardThatGot(click), 0);
    const isReroll = (m: ViewMessage) => !seen.has(m.id) && m.reference?.messageId === result.id && isResult(m);
    await discord.waitFor(() => discord.messages(result.channelId).find(isReroll), { timeoutMs: 60_000, message: `the 🔄 result\n${bot?.output() ?? ''}` });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(discord.messages(result.channelId).filter(isReroll).length, 1, 'the 🔄 result is posted once');
    assert.deepEqual(discord.errors, []);
  });
});

test('start:sharded refuses several shards on the local backend, saying what to set', async () => {
  const discord = await startDiscordStandIn();
  const ws = await createWorkspace();
  try {
    const proc = spawnBot(botEnv(discord, ws, { DISCORD_SHARDS: '2' }), 'src/shard-manager.ts');
    assert.equal(await proc.exited, 1);
    assert.match(proc.output(), /2 shards need QUEUE_BACKEND=redis and REDIS_URL/);
    assert.equal(discord.gateway.identifies.length, 0, 'no shard was started');
  } finally {
    await discord.close();
    ws.cleanup();
  }
});

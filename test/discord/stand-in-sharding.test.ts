// Self-test of the stand-in's sharding: two real discord.js Clients, one per shard, as
// ShardingManager's shard processes run them (`shards: [id]`, `shardCount: n`).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, Events, GatewayIntentBits, Routes, type Interaction } from 'discord.js';
import WebSocket from 'ws';
import { GatewayCloseCodes, startDiscordStandIn, type DiscordStandIn } from '../support/discord/index.js';

/** A snowflake whose timestamp part is `ms`: Discord puts its guild on shard `ms % n`. */
const guildId = (ms: bigint) => ((ms << 22n) | 1n).toString();
const ON_SHARD_0 = guildId(1_000_000_000n);
const ON_SHARD_1 = guildId(1_000_000_001n);

const imagine = { name: 'imagine', description: 'Generate an image', options: [{ type: 3, name: 'prompt', description: 'What', required: true }] };

describe('Discord stand-in: two shards', () => {
  let discord: DiscordStandIn;
  const clients: Client[] = [];
  const seen: { shard: number; guildId: string | null }[] = [];

  before(async () => {
    discord = await startDiscordStandIn({
      shards: 2,
      guilds: [
        { id: ON_SHARD_0, name: 'Zero', channels: [{ name: 'general' }], members: [{ username: 'alice' }] },
        { id: ON_SHARD_1, name: 'One', channels: [{ name: 'lobby' }], members: [{ username: 'bob' }] },
      ],
    });
    discord.seedCommands([imagine]);
    for (const shard of [0, 1]) {
      const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.restUrl }, shards: [shard], shardCount: 2 });
      client.on(Events.InteractionCreate, (i: Interaction) => {
        seen.push({ shard, guildId: i.guildId });
        if (i.isChatInputCommand()) void i.deferReply();
      });
      const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
      await client.login(discord.token);
      await ready;
      clients.push(client);
    }
  });

  after(async () => {
    for (const c of clients) await c.destroy();
    await discord.close();
  });

  test('GET /gateway/bot recommends the configured shard count; each shard identifies with [id, 2]', async () => {
    const bot = (await clients[0].rest.get(Routes.gatewayBot())) as { shards: number };
    assert.equal(bot.shards, 2);
    assert.deepEqual(
      discord.gateway.identifies.map((i) => i.shard),
      [
        [0, 2],
        [1, 2],
      ],
    );
    assert.deepEqual(
      discord.gateway.sessions().map((s) => s.shard),
      [
        [0, 2],
        [1, 2],
      ],
    );
  });

  test('each shard gets READY and GUILD_CREATE for its own guilds only', () => {
    assert.deepEqual([...clients[0].guilds.cache.keys()], [ON_SHARD_0]);
    assert.deepEqual([...clients[1].guilds.cache.keys()], [ON_SHARD_1]);
  });

  test('interactions go to the shard (guild_id >> 22) % num_shards', async () => {
    const zero = await discord.slash('imagine', { prompt: 'a' }, { guild: 'Zero' });
    const one = await discord.slash('imagine', { prompt: 'b' }, { guild: 'One', user: 'bob' });
    await Promise.all([zero.ack(), one.ack()]);
    assert.deepEqual(seen, [
      { shard: 0, guildId: ON_SHARD_0 },
      { shard: 1, guildId: ON_SHARD_1 },
    ]);
    assert.equal(discord.gateway.sessionFor('One')?.shard[0], 1);
  });

  test('events without a guild (DMs) go to shard 0', () => {
    discord.gateway.dispatch('CHANNEL_PINS_UPDATE', { channel_id: '1', last_pin_timestamp: null });
    const last = discord.gateway.dispatches.at(-1)!;
    assert.equal(last.t, 'CHANNEL_PINS_UPDATE');
    assert.equal(last.sessionId, discord.gateway.sessionFor()?.id);
    assert.equal(discord.gateway.sessionFor()?.shard[0], 0);
  });

  test('a dropped shard resumes and keeps getting its guild, the other shard is untouched', async () => {
    const before = discord.gateway.sessions().map((s) => s.resumes);
    discord.gateway.dropConnection(undefined, 1);
    await discord.waitFor(() => discord.gateway.sessions()[1].resumes > before[1], 10_000);
    const again = await discord.slash('imagine', { prompt: 'c' }, { guild: 'One', user: 'bob' });
    await again.ack();
    assert.deepEqual(seen.at(-1), { shard: 1, guildId: ON_SHARD_1 });
    assert.equal(discord.gateway.sessions()[0].resumes, before[0]);
  });
});

test('IDENTIFY with a shard id outside [0, num_shards) closes with 4010', async () => {
  const discord = await startDiscordStandIn();
  try {
    const ws = new WebSocket(`${discord.gatewayUrl}?v=10&encoding=json`);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { op: number };
      if (msg.op === 10) {
        ws.send(JSON.stringify({ op: 2, d: { token: discord.token, intents: 1, properties: { os: 'x', browser: 'x', device: 'x' }, shard: [2, 2] } }));
      }
    });
    assert.equal(await closed, GatewayCloseCodes.InvalidShard);
  } finally {
    await discord.close();
  }
});

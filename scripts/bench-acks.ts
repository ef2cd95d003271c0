// `npm run bench` (Discord part): how many concurrent /imagine commands the real bot process
// acknowledges within Discord's 3 s window. The bot (`src/main.ts`, as `npm start` runs it)
// talks to the Discord stand-in over loopback with simulated devices (DEVICES=noop:N), so the
// numbers are the bot's own cost: gateway → discord.js → option checks → defer callback.
// Latency is from the stand-in dispatching INTERACTION_CREATE to it receiving the first callback.
// The first round runs cold (no warm-up before it): a freshly started bot must keep up too.
import { performance } from 'node:perf_hooks';
import { botEnv, createWorkspace, startBot, type BotProcess, type BotWorkspace } from '../test/bot/support/bot-process.js';
import { startDiscordStandIn, type DiscordStandIn, type InteractionHandle } from '../test/support/discord/index.js';

// `tsx scripts/bench-acks.ts 1 10 500` measures other round sizes.
const ROUNDS = process.argv.length > 2 ? process.argv.slice(2).map((a) => Math.max(1, Number.parseInt(a, 10) || 1)) : [1000, 10, 100, 200, 1000];
const DEVICES = 4;
const ACK_WINDOW_MS = 3000;
/** Long after the window: a callback that never comes is reported as missing. */
const CALLBACK_WAIT_MS = 15_000;
const DRAIN_WAIT_MS = 180_000;

const users = Array.from({ length: Math.max(...ROUNDS) }, (_, i) => `user${String(i).padStart(4, '0')}`);
const channels = ['art-1', 'art-2', 'art-3', 'art-4'];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** Fires `n` /imagine commands at once, from `n` different users, and collects each first callback. */
async function round(discord: DiscordStandIn, n: number): Promise<{ acked: number; latencies: number[]; missing: number; drainMs: number }> {
  const handles: InteractionHandle[] = await Promise.all(
    users.slice(0, n).map((user, i) => discord.slash('imagine', { prompt: `bench ${i}`, steps: 1, seed: i }, { user, channel: channels[i % channels.length] })),
  );
  const unanswered = new Set(handles);
  await discord
    .waitFor(
      () => {
        for (const h of unanswered) {
          if (h.callbacks.length === 0) return false;
          unanswered.delete(h);
        }
        return true;
      },
      { timeoutMs: CALLBACK_WAIT_MS, message: 'first callbacks' },
    )
    .catch(() => undefined);
  const latencies = handles.flatMap((h) => (h.callbacks[0] ? [h.callbacks[0].latencyMs] : [])).sort((a, b) => a - b);
  const acked = handles.filter((h) => h.status === 'acknowledged' && (h.ackLatencyMs ?? Infinity) <= ACK_WINDOW_MS).length;
  // Let the jobs finish and their results post before the next round, so rounds do not overlap.
  const started = performance.now();
  // The probe runs on every change in the stand-in: drop finished handles so it stays O(pending),
  // not O(n) per change (O(n²) over a round, which slowed the stand-in itself).
  const pending = new Set(handles.filter((h) => h.status === 'acknowledged'));
  await discord
    .waitFor(
      () => {
        for (const h of pending) {
          const original = h.original();
          if (original === undefined || original.loading) return false;
          pending.delete(h);
        }
        return true;
      },
      {
        timeoutMs: DRAIN_WAIT_MS,
        message: 'results of the round',
      },
    )
    .catch(() => console.log(`  (round of ${n}: not every result was posted within ${DRAIN_WAIT_MS / 1000} s)`));
  return { acked, latencies, missing: n - latencies.length, drainMs: performance.now() - started };
}

let discord: DiscordStandIn | undefined;
let ws: BotWorkspace | undefined;
let bot: BotProcess | undefined;
try {
  discord = await startDiscordStandIn({
    interactionAckTimeoutMs: ACK_WINDOW_MS,
    guilds: [
      {
        name: 'Bench Guild',
        channels: channels.map((name) => ({ name })),
        members: users.map((username) => ({ username })),
      },
    ],
  });
  ws = await createWorkspace();
  bot = await startBot(
    discord,
    botEnv(discord, ws, {
      DEVICES: Array.from({ length: DEVICES }, (_, i) => `noop:${i}`).join(','),
      NOOP_STEP_MS: '1',
      MAX_QUEUE: String(Math.max(...ROUNDS) * 2),
      MAX_QUEUED_PER_USER: '10',
    }),
  );
  // BENCH_SETTLE_MS: wait this long after the bot connected before the first burst (default 0:
  // the first burst comes at once, while the device workers are still starting).
  const settle = Number(process.env.BENCH_SETTLE_MS ?? 0);
  if (settle > 0) await new Promise((r) => setTimeout(r, settle));
  console.log(`acks: concurrent /imagine through the Discord stand-in, real bot process (DEVICES=noop:${DEVICES}), ${ACK_WINDOW_MS / 1000} s window`);
  for (const [k, n] of ROUNDS.entries()) {
    const r = await round(discord, n);
    if (k === 0) process.stdout.write('(cold: the first commands this bot process sees) ');
    const lat = r.latencies;
    const stats = lat.length
      ? `first callback p50 ${percentile(lat, 50).toFixed(0)} ms, p95 ${percentile(lat, 95).toFixed(0)} ms, max ${lat[lat.length - 1].toFixed(0)} ms`
      : 'no callbacks';
    console.log(
      `${String(n).padStart(4)} concurrent: ${r.acked}/${n} acknowledged within 3 s; ${stats}` +
        `${r.missing ? `; ${r.missing} never answered` : ''}; all results posted ${(r.drainMs / 1000).toFixed(1)} s later`,
    );
  }
  const errors = discord.errors.length + discord.unhandledRequests().length;
  if (errors) console.log(`  (the stand-in saw ${errors} internal errors or unmodelled requests)`);
} finally {
  await bot?.stop();
  await discord?.close();
  ws?.cleanup();
}

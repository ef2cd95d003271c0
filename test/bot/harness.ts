// End-to-end harness: the Discord stand-in, a tiny model in a temporary MODELS_DIR, and the
// real bot process (`node --import tsx src/main.ts`) pointed at both.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { startDiscordStandIn, type DiscordStandIn, type DiscordStandInOptions, type InteractionHandle, type ViewMessage } from '../support/discord/index.js';
import { tinyModel } from '../support/tiny-models.js';
import { isolated, entryArgs } from '../support/child-process.js';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

export class BotProcess {
  readonly output: string[] = [];
  private exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 400) this.output.splice(0, 100);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((res) => child.once('exit', (code) => res(code)));
  }

  get log(): string {
    return this.output.join('');
  }

  /** Waits until the log matches `pattern` (lines are written asynchronously, within 200 ms), else fails showing it. */
  async expectLog(pattern: RegExp, message?: string, timeoutMs = 5_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pattern.test(this.log) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    assert.match(this.log, pattern, message);
  }

  /** Resolves with the exit code. */
  wait(): Promise<number | null> {
    return this.exited;
  }

  /** SIGTERM (the bot checkpoints running jobs and logs out), then waits for the exit. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface Harness {
  discord: DiscordStandIn;
  dataDir: string;
  modelsDir: string;
  env: Record<string, string>;
  /** Spawns the bot; `ready` waits until it has identified on the gateway. */
  startBot(extraEnv?: Record<string, string>, opts?: { ready?: boolean }): Promise<BotProcess>;
  close(): Promise<void>;
}

export function spawnBot(env: Record<string, string>): BotProcess {
  const child = spawn(process.execPath, entryArgs('src/main.ts'), {
    ...isolated(env), // temp cwd, explicit env: the checkout's .env, models/ and data/ stay out
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new BotProcess(child);
}

export async function startHarness(standIn: DiscordStandInOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'bot-e2e-'));
  const dataDir = join(root, 'data');
  const modelsDir = join(root, 'models');
  mkdirSync(join(modelsDir, 'broken'), { recursive: true });
  // Copies, not symlinks: the queue lists model folders without following links.
  const tiny = await tinyModel();
  cpSync(tiny, join(modelsDir, 'tiny'), { recursive: true });
  // "broken": passes the folder check but its UNet is not ONNX, so the worker fails to load it.
  const broken = join(modelsDir, 'broken');
  for (const part of ['scheduler', 'tokenizer', 'text_encoder', 'vae_decoder', 'vae_encoder', 'model_index.json']) {
    cpSync(join(tiny, part), join(broken, part), { recursive: true });
  }
  mkdirSync(join(broken, 'unet'));
  writeFileSync(join(broken, 'unet', 'model.onnx'), 'not an onnx graph');
  const discord = await startDiscordStandIn(standIn);
  const bots: BotProcess[] = [];
  const env = {
    DISCORD_TOKEN: discord.token,
    DISCORD_API_URL: discord.restUrl,
    MODELS_DIR: modelsDir,
    DEFAULT_MODEL: 'tiny',
    DATA_DIR: dataDir,
    DEVICES: 'cpu',
    LOG_LEVEL: process.env.BOT_E2E_LOG_LEVEL ?? 'warn',
  };
  return {
    discord,
    dataDir,
    modelsDir,
    env,
    async startBot(extraEnv = {}, opts = {}) {
      const identified = discord.gateway.identifies.length;
      const bot = spawnBot({ ...env, ...extraEnv });
      bots.push(bot);
      if (opts.ready !== false) {
        await Promise.race([
          discord.waitFor(() => discord.gateway.identifies.length > identified, { timeoutMs: 30_000, message: 'bot did not connect' }),
          bot.wait().then((code) => {
            throw new Error(`bot exited with ${code} before connecting:\n${bot.log}`);
          }),
        ]);
      }
      return bot;
    },
    async close() {
      await Promise.all(bots.map((b) => b.stop()));
      // BOT_E2E_LOG=1 prints what the bot processes logged (LOG_LEVEL=warn by default).
      if (process.env.BOT_E2E_LOG) for (const b of bots) process.stderr.write(b.log);
      await discord.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The value of the embed field `name` on a result (undefined when absent). */
export function embedField(m: ViewMessage, name: string): string | undefined {
  return (m.embeds[0] as { fields?: { name: string; value: string }[] }).fields?.find((f) => f.name === name)?.value;
}

/** The custom_id of the button labelled (or with the emoji) `label`; fails the test when there is none. */
export function buttonId(m: ViewMessage, label: string): string {
  const b = m.buttons.find((x) => x.label === label || x.emoji?.name === label);
  assert.ok(b?.customId, `no button ${label} on ${m.id}`);
  return b.customId;
}

/** The finished result: a message with the job's embed (by default in #general). */
export function isResult(m: ViewMessage): boolean {
  return m.embeds.length > 0 && m.attachments.length > 0 && m.buttons.length > 0;
}

/**
 * The result of an /imagine: normally a channel message replying to the interaction response,
 * or the response itself where the bot may not post.
 */
export async function resultOf(discord: DiscordStandIn, run: InteractionHandle, timeoutMs = 30_000): Promise<ViewMessage> {
  const original = await run.waitForOriginal(() => true, { timeoutMs: 5000 });
  return discord.waitFor(() => discord.messages(run.channelId).find((m) => (m.id === original.id || m.reference?.messageId === original.id) && isResult(m)), {
    timeoutMs,
    message: `the result of interaction ${run.id}`,
  });
}

export async function imageSize(bytes: Uint8Array): Promise<{ width: number; height: number; format: string }> {
  const meta = await sharp(bytes).metadata();
  return { width: meta.width ?? 0, height: meta.height ?? 0, format: meta.format ?? '' };
}

/** Mean absolute difference (0–255) of two images after shrinking both to `side`×`side` greyscale. */
export async function downscaledDifference(a: Uint8Array, b: Uint8Array, side = 8): Promise<number> {
  const small = (img: Uint8Array) => sharp(img).resize(side, side, { fit: 'fill' }).greyscale().raw().toBuffer();
  const [x, y] = await Promise.all([small(a), small(b)]);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i]);
  return sum / x.length;
}

export async function fullDifference(a: Uint8Array, b: Uint8Array): Promise<number> {
  const meta = await sharp(a).metadata();
  return downscaledDifference(a, b, meta.width ?? 64);
}

export { refusalOf } from './support/refusal.js';

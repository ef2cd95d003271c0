// Runs the real bot (`node --import tsx src/main.ts`) as a child process against the Discord
// stand-in, with a tiny model and its own DATA_DIR, so end-to-end tests see exactly what
// `npm start` does. Output is kept for failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tinyModel } from '../../support/tiny-models.js';
import type { DiscordStandIn } from '../../support/discord/index.js';
import { isolated, entryArgs } from '../../support/child-process.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A temp folder with models/tiny and an empty data folder, removed by `cleanup`. */
export interface BotWorkspace {
  root: string;
  modelsDir: string;
  dataDir: string;
  cleanup(): void;
}

export async function createWorkspace(): Promise<BotWorkspace> {
  const root = mkdtempSync(join(tmpdir(), 'bot-e2e-'));
  const modelsDir = join(root, 'models');
  // A copy of the run's shared tiny model (the queue lists model folders without following links).
  cpSync(await tinyModel(), join(modelsDir, 'tiny'), { recursive: true });
  return { root, modelsDir, dataDir: join(root, 'data'), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface BotProcess {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** SIGTERM (a clean shutdown), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | string>;
}

/** Runs `script` (the bot by default; `src/bot/register-cli.ts` for `npm run register`). */
export function spawnBot(env: Record<string, string>, script = 'src/main.ts'): BotProcess {
  // BOT_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' profiles the bot (e.g. under `npm run bench`).
  const nodeArgs = process.env.BOT_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...entryArgs(script)], {
    // A temp cwd and only what the bot needs, so a developer's .env, models/, data/ or shell settings cannot leak in.
    ...isolated(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? 'unknown')));
  return {
    child,
    output: () => out,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}

/** The environment `npm start` would get, pointed at the stand-in and the workspace. */
export function botEnv(discord: DiscordStandIn, ws: BotWorkspace, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DISCORD_TOKEN: discord.token,
    DISCORD_API_URL: discord.restUrl,
    MODELS_DIR: ws.modelsDir,
    DATA_DIR: ws.dataDir,
    DEVICES: 'cpu',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/**
 * Starts the bot and waits until it has identified on the gateway (a new session, so this also
 * works for a restart) and /imagine is registered.
 */
export async function startBot(discord: DiscordStandIn, env: Record<string, string>, timeoutMs = 30_000): Promise<BotProcess> {
  const before = discord.gateway.identifies.length;
  const bot = spawnBot(env);
  const ready = discord.waitFor(
    () => {
      const registered = [...discord.commands(), ...discord.commands(discord.guild().id)].some((c) => (c as { name?: string }).name === 'imagine');
      return discord.gateway.identifies.length > before && discord.gateway.activeSession() !== undefined && registered;
    },
    { timeoutMs, message: 'the bot to connect and register /imagine' },
  );
  const died = bot.exited.then((code) => {
    throw new Error(`the bot exited with ${code} before it was ready`);
  });
  try {
    await Promise.race([ready, died]);
  } catch (err) {
    ready.catch(() => undefined);
    await bot.stop(2000);
    throw new Error(`${(err as Error).message}\n--- bot output ---\n${bot.output()}`);
  }
  died.catch(() => undefined);
  return bot;
}

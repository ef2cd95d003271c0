// Slash commands: one module per command in commands/, each exporting `data` (a builder),
// `execute` and optionally `autocomplete`. Registration is a bulk overwrite (PUT), to one guild
// (DEV_GUILD_ID: updates show at once) or globally; `registerIfChanged` skips it when the
// definitions hash stored under DATA_DIR matches, so restarts don't spend Discord's daily quota.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  Routes,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type MessageContextMenuCommandInteraction,
  type REST,
  type RESTPostAPIApplicationCommandsJSONBody,
} from 'discord.js';
import { z } from 'zod';
import type { BotContext } from './context.js';
import { ensurePrivateDir, writePrivateFile } from '../store/private-files.js';

/** A slash command's definition, or a message context-menu command's (Edit image…). */
export type CommandJson = RESTPostAPIApplicationCommandsJSONBody;

export interface CommandModule {
  data: { name: string; toJSON(): CommandJson };
  /** A slash command gets a ChatInputCommandInteraction, a message context-menu command a MessageContextMenuCommandInteraction. */
  execute(i: ChatInputCommandInteraction | MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void>;
  autocomplete?(i: AutocompleteInteraction, ctx: BotContext): Promise<void>;
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'must be a function');
const moduleSchema = z.object({
  // Context-menu names may have capitals, spaces and punctuation ("Edit image…").
  data: z.object({ name: z.string().regex(/^[-_\p{L}\p{N}\p{P} ]{1,32}$/u, 'must be a valid command name'), toJSON: fn }),
  execute: fn,
  autocomplete: fn.optional(),
});

export const DEFAULT_COMMANDS_DIR = fileURLToPath(new URL('../../commands/', import.meta.url));

/** Imports every command module in `dir`; a malformed one stops startup with its file name. */
export async function loadCommands(dir: string = DEFAULT_COMMANDS_DIR): Promise<Map<string, CommandModule>> {
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts') && !/\.test\./.test(f))
        .sort()
    : [];
  const commands = new Map<string, CommandModule>();
  for (const file of files) {
    const mod: unknown = await import(pathToFileURL(join(dir, file)).href);
    const parsed = moduleSchema.safeParse(mod);
    if (!parsed.success) {
      throw new Error(`commands/${file} is not a command module: ${z.prettifyError(parsed.error).replace(/\n/g, ' ')}`);
    }
    const command = mod as CommandModule;
    if (commands.has(command.data.name)) throw new Error(`commands/${file} defines /${command.data.name} a second time.`);
    commands.set(command.data.name, command);
  }
  return commands;
}

export function commandPayloads(commands: Map<string, CommandModule>): CommandJson[] {
  return [...commands.values()].map((c) => c.data.toJSON()).sort((a, b) => a.name.localeCompare(b.name));
}

export interface RegistrationTarget {
  applicationId: string;
  /** A guild id for instant guild commands; undefined for global ones. */
  guildId?: string;
}

/** Changes with the definitions and with where they go. */
export function commandsHash(payloads: CommandJson[], target: RegistrationTarget): string {
  const scope = `${target.applicationId}/${target.guildId ?? 'global'}`;
  return createHash('sha256').update(scope).update('\n').update(JSON.stringify(payloads)).digest('hex');
}

export async function registerCommands(rest: REST, payloads: CommandJson[], target: RegistrationTarget): Promise<void> {
  const route = target.guildId ? Routes.applicationGuildCommands(target.applicationId, target.guildId) : Routes.applicationCommands(target.applicationId);
  await rest.put(route, { body: payloads });
}

const HASH_FILE = 'commands.hash';

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writePrivateFile(tmp, text);
  await rename(tmp, path);
}

export async function storeHash(dataDir: string, hash: string): Promise<void> {
  await ensurePrivateDir(dataDir);
  await writeAtomically(join(dataDir, HASH_FILE), `${hash}\n`);
}

/** Registers when the definitions or target changed since the last run; says whether it did. */
export async function registerIfChanged(rest: REST, payloads: CommandJson[], target: RegistrationTarget, dataDir: string): Promise<boolean> {
  const hash = commandsHash(payloads, target);
  const stored = await readFile(join(dataDir, HASH_FILE), 'utf8').catch(() => '');
  if (stored.trim() === hash) return false;
  await registerCommands(rest, payloads, target);
  await storeHash(dataDir, hash);
  return true;
}

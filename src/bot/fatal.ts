// How the entry points stop on a startup error: one line, no stack trace for the problems an
// operator fixes (configuration, token, network); a stack only for real bugs.
import { DiscordConfigError } from '../config/discord.js';

/** Startup failures that are already one clear sentence. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

export function exitWithError(err: unknown, program: string): never {
  const known = err instanceof DiscordConfigError || err instanceof StartupError || (err instanceof Error && err.message.startsWith('Invalid configuration'));
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${program}: ${message}\n`);
  if (!known && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}


// The crash handler lives beside the logger, so `npm run worker` needs nothing of the bot.
export { exitOnCrash } from '../process-crash.js';

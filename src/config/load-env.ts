// Loads `.env` from the working directory into process.env. Every entry point (the scripts in
// package.json) imports this module first, before any module that reads the environment when
// it loads (the logger reads LOG_LEVEL). Variables already in the environment win over `.env`.
import { config } from 'dotenv';

/** Fills `env` with the keys of the file at `path` that `env` does not have yet; false when there is no such file. */
export function loadDotEnv(path = '.env', env: NodeJS.ProcessEnv = process.env): boolean {
  const result = config({ path, processEnv: env as Record<string, string>, override: false, quiet: true });
  return result.error === undefined;
}

loadDotEnv();

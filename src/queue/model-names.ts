// Model names as jobs carry them: a folder name under MODELS_DIR, never a path.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../diffusion/errors.js';

/**
 * Model folders in `modelsDir` (symlinked folders too), sorted ([] when the folder is missing).
 * `upscalers/` holds upscaler networks, not diffusion models, so it is not a model name.
 */
export function listModelFolders(modelsDir: string): string[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir)
    .filter((name) => !name.startsWith('.') && name !== 'upscalers' && statSync(join(modelsDir, name), { throwIfNoEntry: false })?.isDirectory())
    .sort();
}

/**
 * The model a job will use: the requested one, else `fallback`. Throws InputError for path-like
 * names, and for names missing from `known` when a list is given.
 */
export function resolveModelName(requested: string, fallback: string | undefined, known: string[] | undefined, where: string): string {
  const model = requested.trim() || fallback;
  if (!model) throw new InputError(`No model given, and ${where} holds no model folders.`);
  if (/[\\/]|^\.\.?$/.test(model)) throw new InputError(`"${model}" is not a model name.`);
  if (known && !known.includes(model)) {
    throw new InputError(`Unknown model "${model}". Available: ${known.length ? known.join(', ') : 'none'}.`);
  }
  return model;
}

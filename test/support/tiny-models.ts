// Tiny random-weight models, created once per test process in a temp folder and reused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTinyModel, type SafetyCheckerMode, type TinyModelOptions, type TinyLayout } from '../../src/models/tiny/index.js';

const root = mkdtempSync(join(tmpdir(), 'tiny-models-'));
const made = new Map<string, Promise<string>>();
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

/**
 * Path of a tiny model with these options (created on first use). A layout name alone, e.g.
 * tinyModel('sdxl'), is that layout's model in a folder named after it.
 */
export function tinyModel(optionsOrLayout: TinyModelOptions | TinyLayout = {}, name?: string): Promise<string> {
  const layoutOnly = typeof optionsOrLayout === 'string';
  const options: TinyModelOptions = layoutOnly ? { layout: optionsOrLayout } : optionsOrLayout;
  name ??= layoutOnly ? optionsOrLayout : 'tiny';
  const key = `${name}:${JSON.stringify(options)}`;
  let p = made.get(key);
  if (!p) {
    const dir = join(root, `${name}-${made.size}`);
    p = createTinyModel(dir, options).then(() => dir);
    made.set(key, p);
  }
  return p;
}

/**
 * A tiny model with a safety checker that flags 'always', 'never', or { meanAbove: t } when the
 * mean of its CLIP-normalised input exceeds t (about -1.8 for black, +1.9 for white).
 */
export function tinyModelWithSafetyChecker(mode: SafetyCheckerMode, options: TinyModelOptions = {}): Promise<string> {
  return tinyModel({ ...options, safetyChecker: mode }, 'nsfw');
}

export const tinyModelsRoot = root;

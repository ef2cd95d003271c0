// Tiny random-weight models, created once per test process in a temp folder and reused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTinyModel, type TinyModelOptions } from '../../src/models/tiny/index.js';

const root = mkdtempSync(join(tmpdir(), 'tiny-models-'));
const made = new Map<string, Promise<string>>();
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

/** Path of a tiny model with these options (created on first use). */
export function tinyModel(options: TinyModelOptions = {}, name = 'tiny'): Promise<string> {
  const key = `${name}:${JSON.stringify(options)}`;
  let p = made.get(key);
  if (!p) {
    const dir = join(root, `${name}-${made.size}`);
    p = createTinyModel(dir, options).then(() => dir);
    made.set(key, p);
  }
  return p;
}

export const tinyModelsRoot = root;

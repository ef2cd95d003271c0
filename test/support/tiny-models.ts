// Tiny random-weight models, created once and reused. Under `npm test` the runner
// (scripts/run-tests.mjs) passes TINY_MODELS_CACHE, a temp folder every test file shares, so
// each variant is made once per run; a file run on its own makes them in its own temp folder.
// Tests treat these folders as read-only (copy one to change it).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTinyModel, type SafetyCheckerMode, type TinyModelOptions, type TinyLayout } from '../../src/models/tiny/index.js';

const shared = process.env.TINY_MODELS_CACHE && existsSync(process.env.TINY_MODELS_CACHE) ? process.env.TINY_MODELS_CACHE : undefined;
const root = shared ?? mkdtempSync(join(tmpdir(), 'tiny-models-'));
const made = new Map<string, Promise<string>>();
if (!shared) process.on('exit', () => rmSync(root, { recursive: true, force: true }));

/** Creates the model beside its final folder, then renames it in: another test process may race us. */
async function createShared(dir: string, options: TinyModelOptions): Promise<string> {
  if (existsSync(dir)) return dir;
  const partial = mkdtempSync(`${dir}.partial-`);
  try {
    await createTinyModel(partial, options);
    renameSync(partial, dir);
  } catch (err) {
    // ENOTEMPTY/EEXIST: another process finished the same model first; use theirs.
    if (!existsSync(dir)) throw err;
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return dir;
}

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
    const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
    p = createShared(join(root, `${name}-${hash}`), options);
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

// --- ControlNet ---
/**
 * A models folder holding a tiny ControlNet-ready model (`model`) and, in controlnets/, tiny
 * ControlNets for it: `canny` (residuals scaled by the pipeline) and `canny-scaled` (same weights,
 * with a conditioning_scale input scaling them in-graph). Created once, read-only.
 */
export function tinyControlNetModels(options: TinyModelOptions = {}): Promise<{ modelsDir: string; model: string }> {
  const key = `controlnet-set:${JSON.stringify(options)}`;
  let p = made.get(key);
  if (!p) {
    const hash = createHash('sha256').update(key).digest('hex').slice(0, 12);
    const dir = join(root, `controlnet-set-${hash}`);
    p = (async () => {
      if (existsSync(dir)) return dir;
      const partial = mkdtempSync(`${dir}.partial-`);
      try {
        const { createTinyControlNet } = await import('../../src/models/tiny/controlnet.js');
        await createTinyModel(join(partial, 'tiny-cn'), { ...options, controlnetUnet: true });
        await createTinyControlNet(join(partial, 'controlnets', 'canny'), { model: join(partial, 'tiny-cn') });
        await createTinyControlNet(join(partial, 'controlnets', 'canny-scaled'), { model: join(partial, 'tiny-cn'), scaleInput: true });
        renameSync(partial, dir);
      } catch (err) {
        if (!existsSync(dir)) throw err;
      } finally {
        rmSync(partial, { recursive: true, force: true });
      }
      return dir;
    })();
    made.set(key, p);
  }
  return p.then((modelsDir) => ({ modelsDir, model: join(modelsDir, 'tiny-cn') }));
}

// The models people can pick: folders under MODELS_DIR in the diffusers ONNX layout. Rescanned
// on every call (a readdir and a few small JSON files), so a model pulled while the bot runs
// shows up without a restart.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { inspectModel, type ModelDefaults } from '../diffusion/model-inspect.js';
import type { ModelFamily } from '../diffusion/families.js';
import { ModelError } from '../diffusion/errors.js';

export interface ModelEntry {
  name: string;
  dir: string;
  family: ModelFamily;
  defaults: ModelDefaults;
  /** Image-to-image (attachments, variations) needs the VAE encoder. */
  canImg2Img: boolean;
}

export type ModelLookup = { ok: true; model: ModelEntry } | { ok: false; message: string };

/**
 * The stand-in model of a host with no model folder that can still draw with Imagen: it gives
 * /imagine its size defaults (Imagen's own 1024² square) and never reaches a local worker.
 */
export const IMAGEN_ONLY_MODEL: ModelEntry = {
  // Not a valid folder name (see lookup), so it can never shadow or be shadowed by a real model.
  name: 'imagen (no local model)',
  dir: '',
  family: 'sdxl',
  defaults: { width: 1024, height: 1024, steps: 30, guidanceScale: 7.5, scheduler: 'euler' },
  canImg2Img: false,
};

export const NO_MODEL_MESSAGE = 'No model is installed yet: the bot owner can add one with `npm run models -- pull onnxruntime/sd-turbo`.';

export class ModelCatalog {
  constructor(
    readonly modelsDir: string,
    private readonly defaultName?: string,
    /** With Imagen configured, a host without models still takes /imagine (see IMAGEN_ONLY_MODEL). */
    private readonly imagenConfigured = false,
  ) {}

  /** Usable models, sorted by name; broken folders are left out. */
  list(): ModelEntry[] {
    if (!existsSync(this.modelsDir)) return [];
    const out: ModelEntry[] = [];
    for (const name of readdirSync(this.modelsDir)) {
      // statSync follows symlinks: a linked model folder counts.
      const dir = join(this.modelsDir, name);
      if (!existsSync(join(dir, 'model_index.json')) || !statSync(dir).isDirectory()) continue;
      const entry = this.inspect(name);
      if (entry.ok) out.push(entry.model);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The named model, or the default one (DEFAULT_MODEL, else the first by name). */
  lookup(name?: string): ModelLookup {
    if (name) {
      if (!/^[\w.-]+$/.test(name) || !existsSync(join(this.modelsDir, name))) {
        return { ok: false, message: `Model "${name}" is not installed. ${this.availableSentence()}` };
      }
      return this.inspect(name);
    }
    if (this.defaultName) {
      const found = this.lookup(this.defaultName);
      if (found.ok) return found;
    }
    const first = this.list()[0];
    if (first) return { ok: true, model: first };
    if (this.imagenConfigured) return { ok: true, model: IMAGEN_ONLY_MODEL };
    return { ok: false, message: NO_MODEL_MESSAGE };
  }

  availableSentence(): string {
    const names = this.list().map((m) => m.name);
    return names.length ? `Available: ${names.join(', ')}.` : 'No model is installed yet.';
  }

  private inspect(name: string): ModelLookup {
    try {
      const info = inspectModel(join(this.modelsDir, name));
      return { ok: true, model: { name, dir: info.dir, family: info.family, defaults: info.defaults, canImg2Img: info.files.vaeEncoder !== undefined } };
    } catch (err) {
      if (err instanceof ModelError) return { ok: false, message: `Model "${name}" cannot be used: ${err.message}` };
      throw err;
    }
  }
}

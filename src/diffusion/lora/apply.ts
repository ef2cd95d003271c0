// LoRAs for a pipeline load: reads the files, merges each model part they touch right before
// its session is created (one part's bytes in memory at a time), and reports what matched.
// A LoRA that matches nothing anywhere was made for another model family: that is an error.
import { basename } from 'node:path';
import { logger } from '../../log.js';
import { ModelError } from '../errors.js';
import type { ModelSource } from '../sessions.js';
import type { LoraSpec } from './choices.js';
import { loraFromSafetensors, type LoraFile, type LoraPart } from './lora-file.js';
import { mergePart } from './merge.js';
import { addnetHash, readSafetensors } from './safetensors.js';

export interface LoadedLora {
  spec: LoraSpec;
  file: LoraFile;
  /** A1111's short hash (first 12 hex digits of addnet_hash_safetensors). */
  shortHash: string;
}

/** What one LoRA did to the model. */
export interface LoraReport {
  name: string;
  weight: number;
  shortHash: string;
  matched: number;
  unmatched: string[];
}

export async function loadLoras(specs: readonly LoraSpec[]): Promise<LoadedLora[]> {
  const out: LoadedLora[] = [];
  for (const spec of specs) {
    const { file, bytes } = await readSafetensors(spec.path);
    out.push({ spec, file: loraFromSafetensors(file, spec.path), shortHash: addnetHash(bytes).slice(0, 12) });
  }
  return out;
}

/** Merges LoRAs part by part and collects the per-LoRA report. */
export class LoraMerger {
  private readonly matched = new Map<string, number>();
  private readonly unmatched = new Map<string, string[]>();

  constructor(readonly loras: readonly LoadedLora[]) {}

  /** The part's model to load: merged bytes when a LoRA changes it, else the file itself. */
  async source(part: LoraPart, path: string): Promise<ModelSource> {
    const touching = this.loras.filter((l) => l.file.modules.some((m) => m.part === part));
    if (touching.length === 0) return path;
    const started = performance.now();
    const merged = await mergePart(
      path,
      part,
      touching.map((l) => ({ lora: { ...l.file, name: l.spec.name }, weight: l.spec.weight })),
    );
    for (const [name, n] of merged.matched) this.matched.set(name, (this.matched.get(name) ?? 0) + n);
    for (const [name, list] of merged.unmatched) this.unmatched.set(name, [...(this.unmatched.get(name) ?? []), ...list]);
    logger.info({ part, loras: touching.map((l) => l.spec.name), ms: Math.round(performance.now() - started) }, 'LoRA merged');
    return merged.model;
  }

  /** The report; throws for a LoRA that matched no weight (another family's, or an export without names). */
  finish(modelName: string): LoraReport[] {
    const reports = this.loras.map((l) => ({
      name: l.spec.name,
      weight: l.spec.weight,
      shortHash: l.shortHash,
      matched: this.matched.get(l.spec.name) ?? 0,
      unmatched: [...(this.unmatched.get(l.spec.name) ?? []), ...l.file.unsupported],
    }));
    for (const r of reports) {
      if (r.matched === 0) {
        throw new ModelError(
          `LoRA "${r.name}" (${basename(this.loras.find((l) => l.spec.name === r.name)?.spec.path ?? r.name)}) matched none of model ${modelName}'s weights ` +
            `(${r.unmatched.length} modules, e.g. ${r.unmatched.slice(0, 2).join(', ') || 'none'}): it was made for another model family, ` +
            'or this ONNX export kept neither weight nor node names.',
        );
      }
      if (r.unmatched.length > 0) {
        logger.warn(
          { lora: r.name, model: modelName, matched: r.matched, unmatched: r.unmatched.slice(0, 20), unmatchedCount: r.unmatched.length },
          'LoRA modules with no matching weight were skipped',
        );
      } else {
        logger.info({ lora: r.name, model: modelName, matched: r.matched }, 'LoRA applied');
      }
    }
    return reports;
  }
}

/** A1111's record of the LoRAs: `Lora hashes: "name: hash, name2: hash2"` (":" and "," dropped from names, as A1111 does). */
export function loraHashesField(reports: readonly Pick<LoraReport, 'name' | 'shortHash'>[]): string | undefined {
  if (reports.length === 0) return undefined;
  return `Lora hashes: "${reports.map((r) => `${r.name.replace(/[:,]/g, '')}: ${r.shortHash}`).join(', ')}"`;
}

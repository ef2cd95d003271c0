// LoRAs for a pipeline load: reads the files, merges each model part they touch right before
// its session is created (one part's bytes in memory at a time), and reports what matched.
// A LoRA that matches nothing anywhere, or whose denoiser modules (UNet or SD3 transformer) fit
// none of this model's, was made for another model family: that is an error.
import { basename } from 'node:path';
import { logger } from '../../log.js';
import { ModelError } from '../errors.js';
import type { ModelSource } from '../sessions.js';
import type { LoraSpec } from './choices.js';
import { DENOISER_PARTS, loraFromSafetensors, type LoraFile, type LoraPart } from './lora-file.js';
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
  /** Per LoRA name, per part: modules applied. */
  private readonly matched = new Map<string, Map<LoraPart, number>>();
  private readonly unmatched = new Map<string, string[]>();
  /** The parts this model has (asked for), so modules for others are reported as unmatched. */
  private readonly parts = new Set<LoraPart>();

  constructor(readonly loras: readonly LoadedLora[]) {}

  /** The part's model to load: merged bytes when a LoRA changes it, else the file itself. */
  async source(part: LoraPart, path: string): Promise<ModelSource> {
    this.parts.add(part);
    const touching = this.loras.filter((l) => l.file.modules.some((m) => m.part === part));
    if (touching.length === 0) return path;
    const started = performance.now();
    const merged = await mergePart(
      path,
      part,
      touching.map((l) => ({ lora: { ...l.file, name: l.spec.name }, weight: l.spec.weight })),
    );
    for (const [name, n] of merged.matched) {
      const byPart = this.matched.get(name) ?? new Map<LoraPart, number>();
      byPart.set(part, (byPart.get(part) ?? 0) + n);
      this.matched.set(name, byPart);
    }
    for (const [name, list] of merged.unmatched) this.unmatched.set(name, [...(this.unmatched.get(name) ?? []), ...list]);
    logger.info({ part, loras: touching.map((l) => l.spec.name), ms: Math.round(performance.now() - started) }, 'LoRA merged');
    return merged.model;
  }

  /**
   * The report; throws for a LoRA that matched no weight, or that has modules for a denoiser and
   * none fit this model's (`denoiser`: 'unet', or 'transformer' on SD3), since applying only its
   * text-encoder part would quietly be another LoRA.
   */
  finish(modelName: string, denoiser: LoraPart): LoraReport[] {
    const reports = this.loras.map((l) => {
      const byPart = this.matched.get(l.spec.name) ?? new Map<LoraPart, number>();
      const absentParts = l.file.modules.filter((m) => !this.parts.has(m.part)).map((m) => m.fileKey);
      return {
        report: {
          name: l.spec.name,
          weight: l.spec.weight,
          shortHash: l.shortHash,
          matched: [...byPart.values()].reduce((a, b) => a + b, 0),
          unmatched: [...(this.unmatched.get(l.spec.name) ?? []), ...absentParts, ...l.file.unsupported],
        },
        lora: l,
        denoiserMatched: byPart.get(denoiser) ?? 0,
        denoiserModules: new Set(l.file.modules.filter((m) => DENOISER_PARTS.includes(m.part)).map((m) => m.part)),
      };
    });
    for (const { report: r, lora, denoiserMatched, denoiserModules } of reports) {
      const file = basename(lora.spec.path);
      const examples = `${r.unmatched.length} modules, e.g. ${r.unmatched.slice(0, 2).join(', ') || 'none'}`;
      const family = familyHint(denoiserModules, denoiser);
      if (r.matched === 0) {
        throw new ModelError(
          `LoRA "${r.name}" (${file}) matched none of model ${modelName}'s weights (${examples}): it was made for another model family${family}, ` +
            'or this ONNX export kept neither weight nor node names.',
        );
      }
      if (denoiserModules.size > 0 && denoiserMatched === 0) {
        throw new ModelError(
          `LoRA "${r.name}" (${file}) matched none of model ${modelName}'s ${denoiser} weights, only text-encoder ones (${examples}): ` +
            `it was made for another model family${family}.`,
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
    return reports.map((r) => r.report);
  }
}

/** ` (a UNet LoRA for SD 1.x/SDXL; this model is Stable Diffusion 3)` when the parts say so. */
function familyHint(loraDenoisers: ReadonlySet<LoraPart>, denoiser: LoraPart): string {
  if (loraDenoisers.has(denoiser)) return '';
  if (loraDenoisers.has('unet')) return ' (a UNet LoRA for SD 1.x/SDXL; this model is Stable Diffusion 3)';
  if (loraDenoisers.has('transformer')) return ' (a transformer LoRA for Stable Diffusion 3; this model has a UNet)';
  return '';
}

/** A1111's record of the LoRAs: `Lora hashes: "name: hash, name2: hash2"` (":" and "," dropped from names, as A1111 does). */
export function loraHashesField(reports: readonly Pick<LoraReport, 'name' | 'shortHash'>[]): string | undefined {
  if (reports.length === 0) return undefined;
  return `Lora hashes: "${reports.map((r) => `${r.name.replace(/[:,]/g, '')}: ${r.shortHash}`).join(', ')}"`;
}

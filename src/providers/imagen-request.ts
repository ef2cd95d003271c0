// Turns a bot request into Imagen calls: the nearest aspect ratio Imagen offers, the fields the
// chosen model honours, and a note for each one it does not, so the embed can say so.
import type { GenerateImagesConfig, PersonGeneration, SafetyFilterLevel } from '@google/genai';
import type { GenerationRequest } from '../diffusion/types.js';
import { imagenModelInfo, type ImagenConfig } from './imagen-config.js';

/** Imagen's aspect ratios, as "w:h" → width / height. */
export const IMAGEN_ASPECT_RATIOS = [
  ['1:1', 1],
  ['3:4', 3 / 4],
  ['4:3', 4 / 3],
  ['9:16', 9 / 16],
  ['16:9', 16 / 9],
] as const;
export type ImagenAspectRatio = (typeof IMAGEN_ASPECT_RATIOS)[number][0];

export const MAX_IMAGEN_IMAGES = 4;

/** Nearest ratio on a log scale, so 2:1 and 1:2 are equally far from 1:1. */
export function nearestAspectRatio(width: number, height: number): ImagenAspectRatio {
  const target = Math.log(width / height);
  let best: ImagenAspectRatio = '1:1';
  let bestDistance = Infinity;
  for (const [name, ratio] of IMAGEN_ASPECT_RATIOS) {
    const distance = Math.abs(Math.log(ratio) - target);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** One generateImages call: `count` images that fill requested slots firstIndex… */
export interface ImagenCall {
  firstIndex: number;
  count: number;
  /** Sent only when Imagen will honour it; image firstIndex + k then has seed + k, as locally. */
  seed?: number;
}

export interface ImagenPlan {
  model: string;
  aspectRatio: ImagenAspectRatio;
  /** Fields shared by every call (numberOfImages and seed are per call). */
  config: GenerateImagesConfig;
  calls: ImagenCall[];
  seedHonoured: boolean;
  negativePromptSent: boolean;
  notes: string[];
}

/** Why Imagen cannot take this request at all, or undefined. */
export function imagenUnsupported(req: GenerationRequest): string | undefined {
  if (req.initImage) return "Imagen can't start from an image; image-to-image runs on the local engine only.";
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_IMAGEN_IMAGES) {
    return `Imagen draws 1 to ${MAX_IMAGEN_IMAGES} images per request, not ${req.count}.`;
  }
  if (!(req.width > 0 && req.height > 0)) return `Image size ${req.width}x${req.height} is not valid.`;
  return undefined;
}

export function planImagenRequest(req: GenerationRequest, cfg: ImagenConfig): ImagenPlan {
  const info = imagenModelInfo(cfg.model);
  const aspectRatio = nearestAspectRatio(req.width, req.height);
  const notes = [`aspect ratio ${aspectRatio} used for ${req.width}x${req.height}`];

  const config: GenerateImagesConfig = {
    aspectRatio,
    includeRaiReason: true, // so withheld images come back with Google's reason
    outputMimeType: 'image/png',
  };
  if (cfg.personGeneration) config.personGeneration = cfg.personGeneration as PersonGeneration;
  if (cfg.safetyFilterLevel) config.safetyFilterLevel = cfg.safetyFilterLevel as SafetyFilterLevel;

  const negative = req.negativePrompt?.trim();
  const negativePromptSent = Boolean(negative) && info.negativePrompt;
  if (negativePromptSent) config.negativePrompt = negative;
  else if (negative) notes.push(`negative prompt ignored: not supported by ${info.id}`);

  // Imagen refuses a seed while its watermark is on (the default).
  const seedHonoured = !cfg.addWatermark;
  if (seedHonoured) config.addWatermark = false;
  else notes.push('seed ignored: Imagen picks its own while its watermark is on');

  const ignored = ['steps', 'guidance scale'];
  if (req.scheduler) ignored.push('scheduler');
  notes.push(`${ignored.join(', ')} ignored: Imagen sets its own`);

  // A seed belongs to one call, so seeded images go one per call (seed + i, like the local engine).
  const perCall = seedHonoured ? 1 : info.maxImagesPerCall;
  const calls: ImagenCall[] = [];
  for (let first = 0; first < req.count; first += perCall) {
    const call: ImagenCall = { firstIndex: first, count: Math.min(perCall, req.count - first) };
    if (seedHonoured) call.seed = seedFor(req.seed, first);
    calls.push(call);
  }
  return { model: info.id, aspectRatio, config, calls, seedHonoured, negativePromptSent, notes };
}

/** Imagen seeds are uint32; wrap like the local engine's seed + i would past 2^32. */
function seedFor(seed: number, offset: number): number {
  return (((seed + offset) % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

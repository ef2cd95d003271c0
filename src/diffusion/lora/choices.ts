// How users name LoRAs: `--lora FILE_OR_NAME[:WEIGHT]`, the request's `loras`, and A1111's
// prompt syntax `<lora:name:0.8>`, which is taken out of the text before it is encoded.
// Names resolve to `$MODELS_DIR/loras/<name>.safetensors`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { InputError } from '../errors.js';

/** One LoRA as a request carries it: its name (file name without .safetensors) and weight. */
export interface LoraRequest {
  name: string;
  weight: number;
  hash?: string;
}

/** A LoRA resolved to its file. */
export interface LoraSpec extends LoraRequest {
  path: string;
}

export const LORA_WEIGHT_MIN = -4;
export const LORA_WEIGHT_MAX = 4;
export const LORAS_DIR = 'loras';
/** The engine's own ceiling on LoRAs per job (the bot's owner sets a lower one: IMAGINE_MAX_LORAS). */
export const MAX_LORAS = 8;

const NAME = /^[\w][\w .+-]{0,99}$/;
export const loraRequestSchema = z.object({
  name: z.string().regex(NAME, 'a LoRA name is a file name: letters, digits, spaces, . _ + - (100 characters at most)'),
  weight: z
    .number()
    .min(LORA_WEIGHT_MIN, `LoRA weight must be between ${LORA_WEIGHT_MIN} and ${LORA_WEIGHT_MAX}`)
    .max(LORA_WEIGHT_MAX, `LoRA weight must be between ${LORA_WEIGHT_MIN} and ${LORA_WEIGHT_MAX}`),
  /** A1111's short hash, as the bot recorded it for the embed and ℹ️ (the engine hashes the file itself). */
  hash: z
    .string()
    .regex(/^[0-9a-f]{12}$/)
    .optional(),
});

// <lora:name>, <lora:name:0.8>; A1111 also allows a third (te/unet) weight, which is read as the same weight here.
const TAG = /<lora:([^:>]+)(?::([^:>]*))?(?::[^>]*)?>/gi;

/** Takes the `<lora:…>` tags out of a prompt: the text to encode, and the LoRAs named. */
export function extractLoraTags(prompt: string): { prompt: string; loras: LoraRequest[] } {
  const loras: LoraRequest[] = [];
  const text = prompt.replace(TAG, (_, name: string, weight?: string) => {
    const w = weight === undefined || weight.trim() === '' ? 1 : Number(weight);
    if (!Number.isFinite(w)) throw new InputError(`<lora:${name}:${weight}>: the weight must be a number, e.g. <lora:${name}:0.8>.`);
    loras.push({ name: name.trim(), weight: w });
    return '';
  });
  return {
    prompt: text
      .replace(/\s{2,}/g, ' ')
      .replace(/\s+,/g, ',')
      .trim(),
    loras,
  };
}

/** The prompt without its `<lora:…>` tags (what the text encoder sees). */
export function stripLoraTags(prompt: string): string {
  return extractLoraTags(prompt).prompt;
}

/** `--lora style.safetensors:0.7`, `--lora name`, `--lora C:\x.safetensors` (a drive colon is not a weight). */
export function parseLoraArg(arg: string): { ref: string; weight: number } {
  const m = /^(.*?)(?::(-?[0-9]*\.?[0-9]+))?$/.exec(arg.trim());
  const ref = m?.[1] ?? '';
  if (!ref) throw new InputError(`--lora ${arg}: give a file or a name, optionally with :WEIGHT (e.g. --lora style:0.8).`);
  const weight = m?.[2] === undefined ? 1 : Number(m[2]);
  if (weight < LORA_WEIGHT_MIN || weight > LORA_WEIGHT_MAX)
    throw new InputError(`--lora ${arg}: the weight must be between ${LORA_WEIGHT_MIN} and ${LORA_WEIGHT_MAX}.`);
  return { ref, weight };
}

export function lorasDir(modelsDir: string): string {
  return join(modelsDir, LORAS_DIR);
}

/** Installed LoRAs: `$MODELS_DIR/loras/*.safetensors`, by name. */
export function listLoras(modelsDir: string): { name: string; path: string; sizeMb: number }[] {
  const dir = lorasDir(modelsDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.toLowerCase().endsWith('.safetensors'))
    .sort()
    .map((f) => {
      const path = join(dir, f);
      return { name: f.replace(/\.safetensors$/i, ''), path, sizeMb: statSync(path).size / 1_048_576 };
    });
}

/** A name from $MODELS_DIR/loras, or (CLI only, `allowPaths`) a file path. */
export function resolveLora(ref: string, modelsDir: string, opts: { allowPaths?: boolean } = {}): string {
  const looksLikePath = ref.includes('/') || ref.includes('\\') || /\.(safetensors|pt|ckpt|bin|pth)$/i.test(ref);
  if (opts.allowPaths && looksLikePath) {
    const p = isAbsolute(ref) ? ref : resolve(ref);
    if (!existsSync(p)) throw new InputError(`LoRA file ${ref} does not exist.`);
    return p;
  }
  const name = basename(ref).replace(/\.safetensors$/i, '');
  const hit = listLoras(modelsDir).find((l) => l.name === name) ?? listLoras(modelsDir).find((l) => l.name.toLowerCase() === name.toLowerCase());
  if (!hit) {
    const installed = listLoras(modelsDir).map((l) => l.name);
    throw new InputError(
      `No LoRA named "${name}" in ${lorasDir(modelsDir)}` + (installed.length ? ` (installed: ${installed.slice(0, 10).join(', ')}).` : ' (none installed).'),
    );
  }
  return hit.path;
}

/** The request's LoRAs and its prompt's tags together, one entry per name (a later mention wins). */
export function requestedLoras(req: { prompt: string; negativePrompt?: string; loras?: readonly LoraRequest[] }): LoraRequest[] {
  const byName = new Map<string, LoraRequest>();
  for (const l of [...extractLoraTags(req.prompt).loras, ...extractLoraTags(req.negativePrompt ?? '').loras, ...(req.loras ?? [])]) {
    byName.set(l.name.toLowerCase(), l);
  }
  return [...byName.values()];
}

/** Cache identity of a LoRA set: sorted, with weights ('' for none). Weight 0 still counts: it is a merge, of nothing. */
export function lorasKey(specs: readonly LoraSpec[]): string {
  return specs
    .map((s) => `${resolve(s.path)}@${s.weight}`)
    .sort()
    .join(';');
}

/**
 * The LoRAs a request asks for (its `loras` and its prompts' tags), resolved in
 * $MODELS_DIR/loras; `extra` (the CLI's --lora files) come last and win for the same name.
 */
export function loraSpecsFor(
  req: { prompt: string; negativePrompt?: string; loras?: readonly LoraRequest[] },
  modelsDir: string,
  extra: readonly LoraSpec[] = [],
): LoraSpec[] {
  const byName = new Map<string, LoraSpec>();
  for (const l of requestedLoras(req)) byName.set(l.name.toLowerCase(), { ...l, path: resolveLora(l.name, modelsDir) });
  for (const l of extra) byName.set(l.name.toLowerCase(), l);
  const specs = [...byName.values()];
  if (specs.length > MAX_LORAS) throw new InputError(`${specs.length} LoRAs asked for; at most ${MAX_LORAS} per job.`);
  for (const s of specs) {
    if (s.weight < LORA_WEIGHT_MIN || s.weight > LORA_WEIGHT_MAX)
      throw new InputError(`LoRA ${s.name}: the weight must be between ${LORA_WEIGHT_MIN} and ${LORA_WEIGHT_MAX}.`);
  }
  return specs;
}

/** `--lora` values → specs: a file path (the CLI allows paths) or a name in $MODELS_DIR/loras. */
export function loraSpecsFromArgs(args: readonly string[], modelsDir: string): LoraSpec[] {
  return args.map((arg) => {
    const { ref, weight } = parseLoraArg(arg);
    const path = resolveLora(ref, modelsDir, { allowPaths: true });
    return { name: basename(path).replace(/\.safetensors$/i, ''), weight, path };
  });
}

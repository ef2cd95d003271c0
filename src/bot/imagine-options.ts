// Validates /imagine's options against the guild's limits and the chosen model, before any
// slow work: pure and synchronous (a readdir at most), so it fits well inside Discord's 3 s.
// A refusal is one message listing every bad option with what is allowed.
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { SCHEDULER_NAMES, type GenerationRequest, type SchedulerName } from '../diffusion/types.js';
import { isDistilledFamily, isSd3Family } from '../diffusion/families.js';
import { MAX_INPUT_IMAGE_BYTES, type GuildLimits } from './limits.js';
import type { ModelCatalog, ModelEntry } from './model-catalog.js';
import { parseLoraOptions } from './lora-options.js';
import { parseControlOptions, type RawControlOptions } from './controlnet-options.js';
import { inpaintFields, inpaintMisuse, inpaintRequest, type RawInpaintOptions } from './inpaint-options.js';
import { formatSize, isPreset, parseWxH, presetSize, SIZE_PRESETS, SIZE_STEP, type Size } from '../jobs/sizes.js';

export const PROMPT_MAX = 1500;
export const NEGATIVE_MAX = 1000;
/** Seeds are 32-bit, as in A1111 and Midjourney; image i uses seed + i. */
export const SEED_MAX = 2 ** 32 - 1;
export const DEFAULT_STRENGTH = 0.75;
/** Inpainting starts from noise in the masked region by default, as the CLI does. */
export const DEFAULT_INPAINT_STRENGTH = 1;
const INPUT_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

export interface AttachmentInfo {
  url: string;
  name: string;
  contentType: string | null;
  size: number;
}

/** Options as Discord delivers them (absent ones are null or undefined). */
export interface RawImagineOptions extends RawControlOptions, RawInpaintOptions {
  prompt?: string | null;
  negative?: string | null;
  seed?: number | null;
  steps?: number | null;
  guidance?: number | null;
  size?: string | null;
  count?: number | null;
  model?: string | null;
  scheduler?: string | null;
  image?: AttachmentInfo | null;
  /** Inpainting mask for `image`: white repaints, black keeps. */
  mask?: AttachmentInfo | null;
  strength?: number | null;
  /** A LoRA by name ($MODELS_DIR/loras) and its weight (lora-options.ts); <lora:…> tags add more. */
  lora?: string | null;
  loraWeight?: number | null;
}

/**
 * The user's personal defaults (/prefs) for options left empty, already filtered to what this
 * server allows (src/bot/prefs.ts); count and size are clamped to the server's limits here.
 */
export interface PersonalDefaults {
  model?: string;
  size?: string;
  negative?: string;
  count?: number;
}

export interface ImagineParams {
  model: ModelEntry;
  request: Omit<GenerationRequest, 'initImage' | 'controlImage'>;
  /** Image-to-image input, still to be downloaded. */
  image?: AttachmentInfo;
  /** Inpainting mask, still to be downloaded. */
  mask?: AttachmentInfo;
  /** ControlNet's control image (request.controlnet set), still to be downloaded. */
  controlImage?: AttachmentInfo;
}

export type ImagineParse = { ok: true; params: ImagineParams } | { ok: false; message: string };

export function randomSeed(count = 1): number {
  return randomInt(0, SEED_MAX - count + 2);
}

const absent = (v: unknown) => (v === null ? undefined : v);

function sizeSchema(base: number, limits: GuildLimits) {
  const presets = Object.keys(SIZE_PRESETS).join(', ');
  const allowed = `${presets}, or WxH with sides that are multiples of ${SIZE_STEP} from ${SIZE_STEP} to ${limits.maxSide} (e.g. 512x768)`;
  return z
    .string()
    .optional()
    .transform((v, ctx): Size => {
      const value = (v ?? limits.defaults?.size ?? 'square').trim().toLowerCase();
      const size = isPreset(value) ? presetSize(value, base) : parseWxH(value);
      if (!size) {
        ctx.addIssue({ code: 'custom', message: `"${v}" is not a size; use ${allowed}` });
        return z.NEVER;
      }
      const sides = [size.width, size.height];
      if (sides.some((s) => s % SIZE_STEP !== 0 || s < SIZE_STEP || s > limits.maxSide)) {
        ctx.addIssue({ code: 'custom', message: `${formatSize(size)} is not allowed here; use ${allowed}` });
        return z.NEVER;
      }
      return size;
    });
}

const attachmentSchema = (model: ModelEntry) =>
  z
    .object({ url: z.string(), name: z.string(), contentType: z.string().nullable(), size: z.number() })
    .refine((a) => a.contentType !== null && INPUT_TYPES.includes(a.contentType.split(';')[0].trim()), 'must be a PNG, JPEG or WebP image')
    .refine((a) => a.size <= MAX_INPUT_IMAGE_BYTES, `must be at most ${MAX_INPUT_IMAGE_BYTES / 1024 / 1024} MiB`)
    .refine(() => model.canImg2Img, `cannot be used with model ${model.name}: it has no VAE encoder (image-to-image)`);

/** A personal default size shrunk (aspect kept, sides multiples of 64) until it fits the server's largest side. */
function fitDefaultSize(value: string, base: number, maxSide: number): string | undefined {
  const v = value.trim().toLowerCase();
  const size = isPreset(v) ? presetSize(v, base) : parseWxH(v);
  if (!size) return undefined;
  const longest = Math.max(size.width, size.height);
  if (longest <= maxSide) return formatSize(size);
  const fit = (side: number) => Math.max(SIZE_STEP, Math.floor((side * maxSide) / longest / SIZE_STEP) * SIZE_STEP);
  return formatSize({ width: fit(size.width), height: fit(size.height) });
}

function optionsSchema(model: ModelEntry, limits: GuildLimits) {
  const between = (lo: number, hi: number) => `must be between ${lo} and ${hi} on this server`;
  return z
    .object({
      prompt: z.string({ error: 'is required' }).trim().min(1, 'must not be empty').max(PROMPT_MAX, `must be at most ${PROMPT_MAX} characters`),
      negative: z.string().trim().max(NEGATIVE_MAX, `must be at most ${NEGATIVE_MAX} characters`).optional(),
      seed: z.number().int('must be a whole number').min(0, `must be between 0 and ${SEED_MAX}`).max(SEED_MAX, `must be between 0 and ${SEED_MAX}`).optional(),
      steps: z.number().int('must be a whole number').min(1, between(1, limits.maxSteps)).max(limits.maxSteps, between(1, limits.maxSteps)).optional(),
      guidance: z.number().min(0, between(0, limits.maxGuidance)).max(limits.maxGuidance, between(0, limits.maxGuidance)).optional(),
      size: sizeSchema(model.defaults.width, limits),
      count: z.number().int('must be a whole number').min(1, between(1, limits.maxCount)).max(limits.maxCount, between(1, limits.maxCount)).optional(),
      scheduler: z.enum(SCHEDULER_NAMES, { error: `must be one of ${SCHEDULER_NAMES.join(', ')}` }).optional(),
      image: attachmentSchema(model).optional(),
      mask: attachmentSchema(model).optional(),
      strength: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
      ...inpaintFields,
    })
    .refine((o) => o.strength === undefined || o.image !== undefined, { message: 'only applies together with an image', path: ['strength'] })
    .refine((o) => o.mask === undefined || o.image !== undefined, {
      message: 'needs an image to paint into: attach the picture as `image` and the mask (white repaints, black keeps) as `mask`',
      path: ['mask'],
    })
    .superRefine((o, ctx) => {
      for (const [option, message] of inpaintMisuse(o)) ctx.addIssue({ code: 'custom', message, path: [option] });
    });
}

/**
 * What an SD3 model (flow matching, a transformer) cannot take yet (ControlNet), and the flow-matching
 * scheduler on any other model: each as one refusal line.
 */
function sd3Problems(model: ModelEntry, o: { scheduler?: string; controlnet: boolean }): string[] {
  if (!isSd3Family(model.family)) {
    return o.scheduler === 'flow_match_euler' ? [`**scheduler** flow_match_euler is only for Stable Diffusion 3 models; ${model.name} needs another one`] : [];
  }
  const problems: string[] = [];
  if (o.scheduler && o.scheduler !== 'flow_match_euler') {
    problems.push(`**scheduler** ${model.name} is a Stable Diffusion 3 model: it samples only with flow_match_euler (leave scheduler empty)`);
  }
  if (o.controlnet) problems.push(`**controlnet** ControlNet is not supported on Stable Diffusion 3 models (${model.name}) yet`);
  return problems;
}

/** Checks every option; a refusal lists each problem as "option: what is allowed". */
export function parseImagineOptions(raw: RawImagineOptions, limits: GuildLimits, catalog: ModelCatalog, personal: PersonalDefaults = {}): ImagineParse {
  // The user's default model, else the guild's, unless it has since been removed from disk.
  const personalModel = !raw.model && personal.model ? catalog.lookup(personal.model) : undefined;
  const guildDefault = !raw.model && limits.defaultModel ? catalog.lookup(limits.defaultModel) : undefined;
  const found = personalModel?.ok ? personalModel : guildDefault?.ok ? guildDefault : catalog.lookup(raw.model ?? undefined);
  if (!found.ok) return { ok: false, message: found.message };
  const model = found.model;
  const input = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, absent(v)]));
  delete input.model;
  delete input.lora;
  delete input.loraWeight;
  // Personal defaults fill what was left empty, never above this server's limits.
  if (input.count === undefined && personal.count !== undefined) input.count = Math.min(personal.count, limits.maxCount);
  if (input.negative === undefined && personal.negative) input.negative = personal.negative;
  if (input.size === undefined && personal.size) input.size = fitDefaultSize(personal.size, model.defaults.width, limits.maxSide);
  // --- ControlNet options: checked on their own (controlnet-options.ts) ---
  const control = parseControlOptions({ controlnet: raw.controlnet, control_image: raw.control_image, control_scale: raw.control_scale }, catalog.modelsDir);
  for (const key of ['controlnet', 'control_image', 'control_scale']) delete input[key];
  const parsed = optionsSchema(model, limits).safeParse(input);
  if (!parsed.success || !control.ok) {
    const lines = parsed.success ? [] : parsed.error.issues.map((i) => `• **${String(i.path[0] ?? 'options')}** ${i.message}`);
    if (!control.ok) lines.push(...control.problems);
    return { ok: false, message: `That /imagine can't run as asked:\n${lines.join('\n')}` };
  }
  const o = parsed.data;
  const loraInput = { prompt: o.prompt, negative: o.negative, lora: raw.lora ?? undefined, loraWeight: raw.loraWeight ?? undefined };
  const loras = parseLoraOptions(loraInput, catalog.modelsDir, limits.maxLoras, limits.loraAllowed);
  if (!loras.ok) return { ok: false, message: `That /imagine can't run as asked:\n${loras.problems.map((p) => `• ${p}`).join('\n')}` };
  const sd3 = sd3Problems(model, {
    scheduler: o.scheduler,
    controlnet: control.controlnet !== undefined,
  });
  if (sd3.length > 0) return { ok: false, message: `That /imagine can't run as asked:\n${sd3.map((p) => `• ${p}`).join('\n')}` };
  const count = o.count ?? 1;
  // A server's step/guidance/scheduler defaults are for ordinary models; turbo and LCM models
  // keep their own (a guidance of 7 or 30 steps would ruin a one-step model).
  const d = isDistilledFamily(model.family) ? { negativePrompt: limits.defaults?.negativePrompt, size: limits.defaults?.size } : (limits.defaults ?? {});
  const request: Omit<GenerationRequest, 'initImage' | 'controlImage'> = {
    prompt: o.prompt,
    seed: o.seed ?? randomSeed(count),
    steps: o.steps ?? Math.min(d.steps ?? model.defaults.steps, limits.maxSteps),
    guidanceScale: o.guidance ?? Math.min(d.guidance ?? model.defaults.guidanceScale, limits.maxGuidance),
    width: o.size.width,
    height: o.size.height,
    count,
  };
  const negative = o.negative || d.negativePrompt;
  if (negative) request.negativePrompt = negative;
  // A server's default scheduler is a diffusion one: SD3 models keep their flow-matching scheduler.
  const scheduler = o.scheduler ?? (isSd3Family(model.family) ? undefined : d.scheduler);
  if (scheduler) request.scheduler = scheduler as SchedulerName;
  if (o.image) request.strength = o.strength ?? (o.mask ? DEFAULT_INPAINT_STRENGTH : DEFAULT_STRENGTH);
  Object.assign(request, inpaintRequest(o));
  if (loras.loras.length) request.loras = loras.loras;
  if (control.controlnet) request.controlnet = control.controlnet;
  return {
    ok: true,
    params: {
      model,
      request,
      ...(o.image ? { image: o.image } : {}),
      ...(o.mask ? { mask: o.mask } : {}),
      ...(control.image ? { controlImage: control.image } : {}),
    },
  };
}

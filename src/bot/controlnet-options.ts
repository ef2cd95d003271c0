// /imagine's ControlNet options (controlnet, control_image, control_scale): checked like the
// rest before any slow work, against the ControlNets installed in MODELS_DIR/controlnets; and how
// a ControlNet job is shown (embed field, ℹ️ line in sd-webui-controlnet's words).
import { z } from 'zod';
import { listControlNets } from '../diffusion/controlnet.js';
import type { ControlNetRequest, GenerationRequest } from '../diffusion/types.js';
import { MAX_CONTROL_SCALE } from '../diffusion/validate.js';
import { MAX_INPUT_IMAGE_BYTES } from './limits.js';

const INPUT_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

interface Attachment {
  url: string;
  name: string;
  contentType: string | null;
  size: number;
}

export interface RawControlOptions {
  controlnet?: string | null;
  control_image?: Attachment | null;
  control_scale?: number | null;
}

export type ControlParse = { ok: true; controlnet?: ControlNetRequest; image?: Attachment } | { ok: false; problems: string[] };

const schema = z.object({
  controlnet: z.string().trim().min(1).max(100).optional(),
  control_image: z
    .object({ url: z.string(), name: z.string(), contentType: z.string().nullable(), size: z.number() })
    .refine((a) => a.contentType !== null && INPUT_TYPES.includes(a.contentType.split(';')[0].trim()), 'must be a PNG, JPEG or WebP image')
    .refine((a) => a.size <= MAX_INPUT_IMAGE_BYTES, `must be at most ${MAX_INPUT_IMAGE_BYTES / 1024 / 1024} MiB`)
    .optional(),
  control_scale: z
    .number()
    .min(0, `must be between 0 and ${MAX_CONTROL_SCALE}`)
    .max(MAX_CONTROL_SCALE, `must be between 0 and ${MAX_CONTROL_SCALE}`)
    .optional(),
});

/** Problems as "• **option** what is allowed" lines, the way parseImagineOptions words them. */
export function parseControlOptions(raw: RawControlOptions, modelsDir: string): ControlParse {
  const input = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v === null ? undefined : v]));
  const parsed = schema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => `• **${String(i.path[0])}** ${i.message}`) };
  const o = parsed.data;
  const problems: string[] = [];
  if (o.controlnet && !o.control_image) problems.push('• **controlnet** needs a **control_image** to follow');
  if (o.control_image && !o.controlnet) problems.push('• **control_image** needs a **controlnet** to read it');
  if (o.control_scale !== undefined && !o.controlnet) problems.push('• **control_scale** only applies together with a controlnet');
  if (o.controlnet) {
    const installed = listControlNets(modelsDir);
    if (!installed.includes(o.controlnet)) {
      problems.push(
        `• **controlnet** "${o.controlnet}" is not installed${installed.length ? ` (installed: ${installed.slice(0, 10).join(', ')})` : ': the bot owner has added none'}`,
      );
    }
  }
  if (problems.length) return { ok: false, problems };
  if (!o.controlnet || !o.control_image) return { ok: true };
  const controlnet: ControlNetRequest = { model: o.controlnet, preprocessor: 'canny' };
  if (o.control_scale !== undefined) controlnet.scale = o.control_scale;
  return { ok: true, controlnet, image: o.control_image };
}

/** Autocomplete: installed ControlNets whose name contains what was typed. */
export function controlNetChoices(modelsDir: string, typed: string): { name: string; value: string }[] {
  return listControlNets(modelsDir)
    .filter((n) => n.toLowerCase().includes(typed.toLowerCase()))
    .map((n) => ({ name: n, value: n }));
}

/** "canny · scale 0.8 · steps 0–1" for the embed and ℹ️, or undefined without a ControlNet. */
export function controlNetSummary(r: Pick<GenerationRequest, 'controlnet'>): string | undefined {
  const c = r.controlnet;
  if (!c) return undefined;
  return `${c.model} (${c.preprocessor ?? 'canny'}) · weight ${c.scale ?? 1} · guidance ${c.guidanceStart ?? 0}–${c.guidanceEnd ?? 1}`;
}

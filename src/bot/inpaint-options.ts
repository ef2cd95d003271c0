// /imagine's inpainting options beside `mask` (A1111's "Masked content", "Inpaint area" and
// "Only masked padding"), in the engine's terms, and how a job's inpainting reads in the embed
// and ℹ️. Discord shows A1111's words; the values are the engine's (GenerationRequest).
import { z } from 'zod';
import { INPAINTING_FILLS, type GenerationRequest, type InpaintingFill } from '../diffusion/types.js';
import { DEFAULT_INPAINT_PADDING, MAX_INPAINT_PADDING } from '../diffusion/validate.js';

/** A1111's "Masked content" words for the engine's fills. */
export const MASK_CONTENT_NAMES: Record<InpaintingFill, string> = {
  fill: 'fill',
  original: 'original',
  latent_noise: 'latent noise',
  latent_nothing: 'latent nothing',
};
export const MASK_CONTENT_CHOICES = INPAINTING_FILLS.map((value) => ({ name: MASK_CONTENT_NAMES[value], value }));
export const INPAINT_AREA_CHOICES = [
  { name: 'whole picture', value: 'whole' },
  { name: 'only masked', value: 'masked' },
] as const;

/** The options as Discord delivers them (absent: null or undefined). */
export interface RawInpaintOptions {
  mask_content?: string | null;
  inpaint_area?: string | null;
  mask_padding?: number | null;
}

/** The zod fields for optionsSchema; what needs the mask is checked by `inpaintRefinements`. */
export const inpaintFields = {
  mask_content: z.enum(INPAINTING_FILLS, { error: `must be one of ${MASK_CONTENT_CHOICES.map((c) => c.name).join(', ')}` }).optional(),
  inpaint_area: z.enum(['whole', 'masked'], { error: 'must be whole picture or only masked' }).optional(),
  mask_padding: z
    .number()
    .int('must be a whole number of pixels')
    .min(0, `must be between 0 and ${MAX_INPAINT_PADDING} pixels`)
    .max(MAX_INPAINT_PADDING, `must be between 0 and ${MAX_INPAINT_PADDING} pixels`)
    .optional(),
};

type Parsed = { mask?: unknown; mask_content?: InpaintingFill; inpaint_area?: 'whole' | 'masked'; mask_padding?: number };

/** Each option used where it means nothing, as [option, why]. */
export function inpaintMisuse(o: Parsed): [keyof RawInpaintOptions, string][] {
  const problems: [keyof RawInpaintOptions, string][] = [];
  const needsMask = 'only applies to inpainting: attach the picture as `image` and the mask (white repaints, black keeps) as `mask`';
  if (o.mask === undefined) {
    if (o.mask_content !== undefined) problems.push(['mask_content', needsMask]);
    if (o.inpaint_area !== undefined) problems.push(['inpaint_area', needsMask]);
  }
  if (o.mask_padding !== undefined && o.inpaint_area !== 'masked') {
    problems.push(['mask_padding', 'only applies with inpaint_area: only masked (the padding around the mask’s box)']);
  }
  return problems;
}

/** The request fields for a masked job; the engine's defaults (fill original, whole picture) stay implicit. */
export function inpaintRequest(o: Parsed): Pick<GenerationRequest, 'inpaintingFill' | 'inpaintArea' | 'inpaintPadding'> {
  if (o.mask === undefined) return {};
  return {
    ...(o.mask_content && o.mask_content !== 'original' ? { inpaintingFill: o.mask_content } : {}),
    // The padding is stored even when defaulted, so the embed and re-rolls say what was used.
    ...(o.inpaint_area === 'masked' ? { inpaintArea: 'masked' as const, inpaintPadding: o.mask_padding ?? DEFAULT_INPAINT_PADDING } : {}),
  };
}

type InpaintFields = 'mask' | 'maskBlur' | 'maskInvert' | 'inpaintArea' | 'inpaintPadding' | 'inpaintingFill';

/** A request without its inpainting fields: for jobs that do not carry the parent's mask (V, U). */
export function withoutInpainting<R extends Partial<Pick<GenerationRequest, InpaintFields>>>(request: R): Omit<R, InpaintFields> {
  const { mask: _m, maskBlur: _b, maskInvert: _v, inpaintArea: _a, inpaintPadding: _p, inpaintingFill: _f, ...rest } = request;
  return rest;
}

/** "Masked content: latent noise · Inpaint area: only masked, padding 32 px", as A1111 names them. */
export function inpaintSummary(r: Pick<GenerationRequest, 'inpaintingFill' | 'inpaintArea' | 'inpaintPadding'>): string {
  const content = `Masked content: ${MASK_CONTENT_NAMES[r.inpaintingFill ?? 'original']}`;
  const area =
    r.inpaintArea === 'masked' ? `Inpaint area: only masked, padding ${r.inpaintPadding ?? DEFAULT_INPAINT_PADDING} px` : 'Inpaint area: whole picture';
  return `${content} · ${area}`;
}

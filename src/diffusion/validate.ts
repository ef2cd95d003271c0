// The engine's own boundary check: every caller (CLI, queue, bot) gets the same rules and
// the same clear messages, whatever it validated before.
import { z } from 'zod';
import { InputError } from './errors.js';
import type { ModelDefaults } from './model-inspect.js';
import { CONTROL_PREPROCESSORS, INPAINTING_FILLS, PAN_DIRECTIONS, SCHEDULER_NAMES, type GenerationRequest } from './types.js';
import { loraRequestSchema, MAX_LORAS } from './lora/choices.js';

export const MIN_SIDE = 64;
export const MAX_SIDE = 2048;
export const MAX_STEPS = 150;
export const MAX_COUNT = 8;
/** The largest mask blur (Gaussian sigma, pixels): beyond this the mask is mostly blur. */
export const MAX_MASK_BLUR = 64;
/** The largest "only masked" padding, pixels. */
export const MAX_INPAINT_PADDING = 256;
/** A1111's UI default for "Only masked padding, pixels". */
export const DEFAULT_INPAINT_PADDING = 32;
/** diffusers allows any ControlNet scale; beyond 2 a ControlNet only burns the picture. */
export const MAX_CONTROL_SCALE = 2;

const side = (what: string) =>
  z
    .number()
    .int(`${what} must be a whole number of pixels`)
    .min(MIN_SIDE, `${what} must be at least ${MIN_SIDE}`)
    .max(MAX_SIDE, `${what} must be at most ${MAX_SIDE}`)
    .refine((v) => v % 8 === 0, `${what} must be a multiple of 8 (64 is safest for real models)`);

/** Largest zoom-out factor: beyond 2× the kept picture is too small to continue. */
export const MAX_ZOOM_OUT = 2;

const imageEditSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('zoom'),
    factor: z.number().min(1, 'zoom factor must be between 1 and 2').max(MAX_ZOOM_OUT, `zoom factor must be between 1 and ${MAX_ZOOM_OUT}`),
  }),
  z.object({ kind: z.literal('pan'), direction: z.enum(PAN_DIRECTIONS) }),
  z.object({ kind: z.literal('hires'), scale: z.number().min(1, 'upscale factor must be 1–4').max(4, 'upscale factor must be 1–4') }),
]);

export const generationRequestSchema = z.object({
  prompt: z.string().max(4000, 'prompt is too long (4000 characters at most)'),
  negativePrompt: z.string().max(4000, 'negative prompt is too long (4000 characters at most)').optional(),
  seed: z
    .number()
    .int('seed must be a whole number')
    .min(0, 'seed must be 0 or more')
    .max(Number.MAX_SAFE_INTEGER, `seed must be at most ${Number.MAX_SAFE_INTEGER}`),
  steps: z.number().int('steps must be a whole number').min(1, 'steps must be at least 1').max(MAX_STEPS, `steps must be at most ${MAX_STEPS}`),
  guidanceScale: z.number().min(0, 'guidance must be 0 or more').max(30, 'guidance must be at most 30'),
  width: side('width'),
  height: side('height'),
  count: z.number().int().min(1, 'count must be at least 1').max(MAX_COUNT, `count must be at most ${MAX_COUNT}`),
  scheduler: z.enum(SCHEDULER_NAMES, { error: `scheduler must be one of ${SCHEDULER_NAMES.join(', ')}` }).optional(),
  initImage: z.instanceof(Uint8Array).optional(),
  strength: z.number().min(0, 'strength must be between 0 and 1').max(1, 'strength must be between 0 and 1').optional(),
  // Any size: the mask is resized onto the input image (image-prep.ts).
  mask: z.instanceof(Uint8Array).optional(),
  maskBlur: z.number().min(0, 'mask blur must be 0 or more').max(MAX_MASK_BLUR, `mask blur must be at most ${MAX_MASK_BLUR} pixels`).optional(),
  maskInvert: z.boolean().optional(),
  inpaintArea: z.enum(['whole', 'masked'], { error: 'inpaint area must be whole or masked' }).optional(),
  inpaintPadding: z
    .number()
    .int('inpaint padding must be a whole number of pixels')
    .min(0, 'inpaint padding must be 0 or more')
    .max(MAX_INPAINT_PADDING, `inpaint padding must be at most ${MAX_INPAINT_PADDING} pixels`)
    .optional(),
  inpaintingFill: z.enum(INPAINTING_FILLS, { error: `inpainting fill must be one of ${INPAINTING_FILLS.join(', ')}` }).optional(),
  edit: imageEditSchema.optional(),
  // LoRAs by name (lora/choices.ts); the prompt's <lora:…> tags add to these.
  loras: z.array(loraRequestSchema).max(MAX_LORAS, `at most ${MAX_LORAS} LoRAs per job`).optional(),
  // --- ControlNet ---
  controlnet: z
    .object({
      model: z.string().min(1, 'controlnet needs a name').max(500),
      preprocessor: z.enum(CONTROL_PREPROCESSORS, { error: `control must be one of ${CONTROL_PREPROCESSORS.join(', ')}` }).optional(),
      scale: z.number().min(0, 'control scale must be 0 or more').max(MAX_CONTROL_SCALE, `control scale must be at most ${MAX_CONTROL_SCALE}`).optional(),
      guidanceStart: z.number().min(0, 'control guidance start must be between 0 and 1').max(1, 'control guidance start must be between 0 and 1').optional(),
      guidanceEnd: z.number().min(0, 'control guidance end must be between 0 and 1').max(1, 'control guidance end must be between 0 and 1').optional(),
      cannyLow: z.number().min(0, 'canny thresholds must be 0 or more').max(1000).optional(),
      cannyHigh: z.number().min(0, 'canny thresholds must be 0 or more').max(1000).optional(),
    })
    .optional(),
  controlImage: z.instanceof(Uint8Array).optional(),
});

export type ValidRequest = z.infer<typeof generationRequestSchema>;

/** Fills what the caller left out from the model's defaults, then validates. */
export function validateRequest(req: Partial<GenerationRequest> & { prompt: string }, defaults: ModelDefaults): ValidRequest {
  const filled = {
    ...req,
    seed: req.seed ?? 0,
    steps: req.steps ?? defaults.steps,
    guidanceScale: req.guidanceScale ?? defaults.guidanceScale,
    width: req.width ?? defaults.width,
    height: req.height ?? defaults.height,
    count: req.count ?? 1,
  };
  const parsed = generationRequestSchema.safeParse(filled);
  if (!parsed.success) {
    throw new InputError(parsed.error.issues.map((i) => i.message).join('; '));
  }
  if (parsed.data.strength !== undefined && !parsed.data.initImage) {
    throw new InputError('strength only applies to image-to-image: give an input image too');
  }
  if (parsed.data.mask && !parsed.data.initImage) {
    throw new InputError('a mask needs the image it masks: give an input image too');
  }
  if (parsed.data.maskBlur && !parsed.data.mask) {
    throw new InputError('mask blur only applies to inpainting: give a mask too');
  }
  if (parsed.data.maskInvert && !parsed.data.mask) {
    throw new InputError('mask invert only applies to inpainting: give a mask too');
  }
  if (parsed.data.inpaintArea === 'masked' && !parsed.data.mask) {
    throw new InputError('inpaint area "masked" only applies to inpainting: give a mask too');
  }
  if (parsed.data.inpaintPadding !== undefined && parsed.data.inpaintArea !== 'masked') {
    throw new InputError('inpaint padding only applies to inpaint area "masked"');
  }
  if (parsed.data.inpaintingFill && parsed.data.inpaintingFill !== 'original' && !parsed.data.mask) {
    throw new InputError('inpainting fill only applies to inpainting: give a mask too');
  }
  // --- ControlNet ---
  const cn = parsed.data.controlnet;
  if (cn && !parsed.data.controlImage) throw new InputError('a ControlNet needs a control image: give one too');
  if (parsed.data.controlImage && !cn) throw new InputError('a control image needs a ControlNet to read it: name one too');
  if (cn && (cn.guidanceStart ?? 0) >= (cn.guidanceEnd ?? 1)) {
    throw new InputError('control guidance start must be below its end');
  }
  if (cn && (cn.cannyLow ?? 100) > (cn.cannyHigh ?? 200)) throw new InputError('the low canny threshold must not exceed the high one');
  return parsed.data;
}

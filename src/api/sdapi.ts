// The AUTOMATIC1111 door (/sdapi/v1/…), what chat front-ends, editors and other bots call. As in
// A1111 (FastAPI/pydantic): unknown fields are ignored, `null` means the default, and a field
// of the wrong type gets 422 naming it.
import sharp from 'sharp';
import { z } from 'zod';
import type { ModelFamily } from '../diffusion/families.js';
import { INPAINTING_FILLS } from '../diffusion/types.js';
import { pngParameters } from '../diffusion/png.js';
import { MAX_INPAINT_PADDING, MAX_MASK_BLUR } from '../diffusion/validate.js';
import type { JobRecord } from '../jobs/types.js';
import { type ApiApp, type ApiContext, principalOf } from './context.js';
import { ApiError } from './errors.js';
import { decodeBase64Image } from './images.js';
import type { ApiGenerationInput, Principal } from './jobs-service.js';
import { A1111_SAMPLERS, a1111NameOf, schedulerFor } from './samplers.js';

const n = <T extends z.ZodType>(t: T) => t.nullish();

const generationFields = {
  prompt: n(z.string()),
  negative_prompt: n(z.string()),
  steps: n(z.number().int()),
  cfg_scale: n(z.number()),
  width: n(z.number().int()),
  height: n(z.number().int()),
  seed: n(z.number().int()),
  batch_size: n(z.number().int()),
  n_iter: n(z.number().int()),
  sampler_name: n(z.string()),
  /** Older clients (and aiyabot) name the sampler here. */
  sampler_index: n(z.string()),
  scheduler: n(z.string()),
  override_settings: n(z.looseObject({ sd_model_checkpoint: n(z.string()) })),
};

export const txt2imgBody = z.looseObject(generationFields);
/** A1111 sends these as ints or booleans (pydantic takes either). */
const flag = n(z.union([z.boolean(), z.literal(0), z.literal(1)]));

export const img2imgBody = z.looseObject({
  ...generationFields,
  init_images: n(z.array(z.string())),
  denoising_strength: n(z.number().describe('Default 0.75, as A1111')),
  mask: n(z.string().describe('Inpainting: base64 image (or data URL), white repaints, black keeps; any size, stretched over the input')),
  mask_blur: n(z.number().int().describe(`Mask edge blur in pixels (Gaussian sigma), 0 to ${MAX_MASK_BLUR}; default 4, as A1111`)),
  inpainting_mask_invert: flag.describe('1: black repaints, white keeps'),
  inpainting_fill: n(
    z
      .number()
      .int()
      .min(0)
      .max(3)
      .describe(
        'What the masked area starts from, as A1111: 0 fill (from the surrounding colours; the default, as A1111), 1 original (the input image), 2 latent noise, 3 latent nothing',
      ),
  ),
  inpaint_full_res: flag.describe(
    '0 (whole picture, the default here) or 1 (only masked: the padded crop around the mask is inpainted at width×height, then pasted back)',
  ),
  inpaint_full_res_padding: n(
    z.number().int().describe(`Only masked: pixels added around the mask's box, 0 to ${MAX_INPAINT_PADDING}; default 0, as A1111's API`),
  ),
});

/** A1111 titles look like "name.safetensors [hash]"; ours are folder names. */
const modelNameOf = (title: string) => title.replace(/\s*\[[^\]]*\]\s*$/, '').trim();

function inputOf(b: z.infer<typeof img2imgBody>, img2img: boolean, family: ModelFamily): ApiGenerationInput {
  const samplerName = b.sampler_name ?? b.sampler_index ?? undefined;
  const scheduler = samplerName ? schedulerFor(samplerName, b.scheduler ?? undefined, family) : undefined;
  if (samplerName && !scheduler) {
    throw new ApiError(422, `sampler_name "${samplerName}" is not a sampler here; use one of ${A1111_SAMPLERS.map((s) => s.name).join(', ')}.`, {
      param: 'sampler_name',
    });
  }
  const count = (b.batch_size ?? 1) * (b.n_iter ?? 1);
  const checkpoint = b.override_settings?.sd_model_checkpoint;
  const input: ApiGenerationInput = {
    prompt: b.prompt ?? '',
    ...(b.negative_prompt ? { negativePrompt: b.negative_prompt } : {}),
    ...(b.steps != null ? { steps: b.steps } : {}),
    ...(b.cfg_scale != null ? { guidance: b.cfg_scale } : {}),
    ...(b.width != null ? { width: b.width } : {}),
    ...(b.height != null ? { height: b.height } : {}),
    ...(b.seed != null ? { seed: b.seed } : {}),
    count,
    ...(scheduler ? { scheduler } : {}),
    ...(checkpoint ? { model: modelNameOf(checkpoint) } : {}),
  };
  if (img2img) {
    const first = b.init_images?.[0];
    if (!first) throw new ApiError(422, 'init_images must hold one base64 image', { param: 'init_images' });
    input.initImage = decodeBase64Image(first, 'init_images[0]');
    input.strength = b.denoising_strength ?? A1111_DENOISING_STRENGTH;
    if (b.mask) Object.assign(input, maskOf(b, b.mask));
  }
  return input;
}

/** A1111's defaults where they differ from the engine's. */
const A1111_DENOISING_STRENGTH = 0.75;
const A1111_MASK_BLUR = 4;
/** StableDiffusionProcessingImg2Img's inpaint_full_res_padding (its UI's is 32). */
const A1111_INPAINT_PADDING = 0;
/** A1111's inpainting_fill when absent: 0, "fill". */
const A1111_INPAINTING_FILL = 0;

/** The inpainting fields; inpainting_fill's 0–3 are the engine's INPAINTING_FILLS in A1111's order. */
function maskOf(
  b: z.infer<typeof img2imgBody>,
  mask: string,
): Pick<ApiGenerationInput, 'mask' | 'maskBlur' | 'maskInvert' | 'inpaintingFill' | 'inpaintArea' | 'inpaintPadding'> {
  return {
    mask: decodeBase64Image(mask, 'mask'),
    maskBlur: b.mask_blur ?? A1111_MASK_BLUR,
    ...(b.inpainting_mask_invert === true || b.inpainting_mask_invert === 1 ? { maskInvert: true } : {}),
    ...(b.inpaint_full_res === true || b.inpaint_full_res === 1
      ? { inpaintArea: 'masked' as const, inpaintPadding: b.inpaint_full_res_padding ?? A1111_INPAINT_PADDING }
      : {}),
    inpaintingFill: INPAINTING_FILLS[b.inpainting_fill ?? A1111_INPAINTING_FILL],
  };
}

function infoOf(job: JobRecord, images: Buffer[], body: Record<string, unknown>) {
  const r = job.request;
  const infotexts = images.map((png) => pngParameters(png) ?? '');
  return {
    prompt: r.prompt,
    all_prompts: images.map(() => r.prompt),
    negative_prompt: r.negativePrompt ?? '',
    all_negative_prompts: images.map(() => r.negativePrompt ?? ''),
    seed: job.seeds[0] ?? r.seed,
    all_seeds: job.seeds,
    subseed: -1,
    all_subseeds: job.seeds.map(() => -1),
    subseed_strength: 0,
    width: r.width,
    height: r.height,
    sampler_name: a1111NameOf(r.scheduler) ?? r.scheduler ?? 'default',
    cfg_scale: r.guidanceScale,
    steps: r.steps,
    batch_size: Number(body.batch_size ?? 1) || 1,
    restore_faces: false,
    sd_model_name: job.model,
    sd_model_hash: null,
    denoising_strength: r.strength ?? null,
    clip_skip: 1,
    job_timestamp: new Date(job.createdAt).toISOString().replace(/\D/g, '').slice(0, 14),
    infotexts,
    styles: [],
    version: 'imagine-bot',
  };
}

async function previewPng(p: { width: number; height: number; rgb: Uint8Array }): Promise<string> {
  const png = await sharp(Buffer.from(p.rgb), { raw: { width: p.width, height: p.height, channels: 3 } })
    .png()
    .toBuffer();
  return png.toString('base64');
}

export function registerSdapiRoutes(app: ApiApp, ctx: ApiContext): void {
  const { jobs } = ctx;
  const generate = async (principal: Principal, body: z.infer<typeof img2imgBody>, img2img: boolean) => {
    // The sampler's meaning depends on the model (A1111's "Euler" on SD3), so look it up first.
    const checkpoint = body.override_settings?.sd_model_checkpoint;
    const family = jobs.model(principal, checkpoint ? modelNameOf(checkpoint) : undefined).family;
    const { job } = await jobs.submit(principal, inputOf(body, img2img, family));
    const result = await jobs.result(job, ctx.config.syncTimeoutMs);
    const { init_images: _i, mask: _m, ...echo } = body;
    return {
      images: result.images.map((png) => png.toString('base64')),
      parameters: echo,
      info: JSON.stringify(infoOf(result.job, result.images, body)),
    };
  };
  const tags = ['automatic1111'];

  app.post('/sdapi/v1/txt2img', { schema: { body: txt2imgBody, tags, summary: 'A1111 text-to-image' } }, (req) => generate(principalOf(req), req.body, false));
  app.post('/sdapi/v1/img2img', { schema: { body: img2imgBody, tags, summary: 'A1111 image-to-image' } }, (req) => generate(principalOf(req), req.body, true));

  app.get('/sdapi/v1/sd-models', { schema: { tags, summary: 'Installed models' } }, async () =>
    jobs.d.catalog.list().map((m) => ({ title: m.name, model_name: m.name, hash: null, sha256: null, filename: m.dir, config: null })),
  );

  app.get('/sdapi/v1/samplers', { schema: { tags, summary: 'Samplers (A1111 names of our schedulers)' } }, async () =>
    A1111_SAMPLERS.map((s) => ({ name: s.name, aliases: [s.scheduler, ...s.aliases], options: {} })),
  );

  app.get('/sdapi/v1/options', { schema: { tags, summary: "This key's model" } }, async (req) => {
    const model = jobs.model(principalOf(req));
    return { sd_model_checkpoint: model.name, sd_checkpoint_hash: null, samples_format: 'png' };
  });

  app.post(
    '/sdapi/v1/options',
    { schema: { body: z.looseObject({ sd_model_checkpoint: n(z.string()) }), tags, summary: "Switch this key's model (sd_model_checkpoint)" } },
    async (req) => {
      if (req.body.sd_model_checkpoint) jobs.chooseModel(principalOf(req), modelNameOf(req.body.sd_model_checkpoint));
      return {};
    },
  );

  app.get(
    '/sdapi/v1/progress',
    { schema: { querystring: z.looseObject({ skip_current_image: n(z.enum(['true', 'false'])) }), tags, summary: "Progress of this key's current job" } },
    async (req) => {
      const active = jobs.activeJobs(principalOf(req));
      const running = active.find((a) => a.job.state === 'running') ?? active[0];
      const state = { skipped: false, interrupted: false, job: running?.job.id ?? '', job_count: active.length, job_timestamp: '0', job_no: 0 };
      if (!running) return { progress: 0, eta_relative: 0, state: { ...state, sampling_step: 0, sampling_steps: 0 }, current_image: null, textinfo: null };
      const p = ctx.watch.progress(running.job.id);
      const total = p?.totalSteps || running.job.request.steps;
      const step = p?.step ?? 0;
      const fraction = running.job.state === 'running' ? step / total : 0;
      const elapsed = p?.startedAt ? (Date.now() - p.startedAt) / 1000 : 0;
      const eta = running.job.state === 'running' ? (fraction > 0 ? (elapsed / fraction) * (1 - fraction) : 0) : running.position.etaMs / 1000;
      const image = req.query.skip_current_image !== 'true' && p?.preview ? await previewPng(p.preview) : null;
      return {
        progress: fraction,
        eta_relative: eta,
        state: { ...state, sampling_step: step, sampling_steps: total },
        current_image: image,
        textinfo: running.job.state === 'queued' ? `Waiting: position ${running.position.position}` : null,
      };
    },
  );

  app.post('/sdapi/v1/interrupt', { schema: { tags, summary: "Cancel this key's running job" } }, async (req) => {
    const principal = principalOf(req);
    for (const { job } of jobs.activeJobs(principal).filter((a) => a.job.state === 'running')) await jobs.cancel(principal, job.id);
    return {};
  });
}

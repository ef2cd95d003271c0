// The seed tutorial's door: POST /generate answers with base64 PNGs; POST /jobs queues and
// answers 202 at once, GET /jobs/{id} polls, DELETE /jobs/{id} cancels, and
// GET /jobs/{id}/events streams the job's progress as Server-Sent Events.
import { z } from 'zod';
import { INPAINTING_FILLS, SCHEDULER_NAMES } from '../diffusion/types.js';
import { DEFAULT_INPAINT_PADDING, MAX_INPAINT_PADDING, MAX_MASK_BLUR } from '../diffusion/validate.js';
import type { JobRecord } from '../jobs/types.js';
import { type ApiApp, type ApiContext, fileUrls, principalOf } from './context.js';
import { ApiError } from './errors.js';
import { decodeBase64Image } from './images.js';
import type { ApiGenerationInput } from './jobs-service.js';
import type { WatchEvent } from './job-watch.js';

export const PROMPT_MAX = 1500;
export const NEGATIVE_MAX = 1000;

export const generateBody = z.object({
  prompt: z.string().max(PROMPT_MAX),
  negative_prompt: z.string().max(NEGATIVE_MAX).optional(),
  num_inference_steps: z.number().int().optional(),
  guidance_scale: z.number().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  seed: z.number().int().optional().describe('-1 or absent: random'),
  num_images: z.number().int().optional(),
  model: z.string().max(100).optional(),
  scheduler: z.enum(SCHEDULER_NAMES).optional(),
  init_image: z.string().optional().describe('base64 PNG/JPEG/WebP: image-to-image'),
  strength: z.number().optional().describe('0–1; default 0.75, or 1 with mask_image'),
  mask_image: z.string().optional().describe('base64 PNG/JPEG/WebP: inpainting mask for init_image, white repaints, black keeps; any size, stretched over it'),
  mask_blur: z.number().optional().describe(`mask edge blur in pixels (Gaussian sigma), 0 to ${MAX_MASK_BLUR}; default 0`),
  mask_invert: z.boolean().optional().describe('true: black repaints, white keeps'),
  mask_content: z
    .enum(INPAINTING_FILLS)
    .optional()
    .describe('With mask_image: what the masked area starts from (A1111\'s "Masked content"); default original, the input itself'),
  inpaint_area: z
    .enum(['whole', 'masked'])
    .optional()
    .describe(
      'With mask_image: whole (the default) or masked, A1111\'s "Only masked": the padded box around the mask is inpainted at width×height, then pasted back',
    ),
  mask_padding: z
    .number()
    .int()
    .min(0)
    .max(MAX_INPAINT_PADDING)
    .optional()
    .describe(`With inpaint_area masked: pixels added around the mask's box, 0 to ${MAX_INPAINT_PADDING}; default ${DEFAULT_INPAINT_PADDING}`),
});

type GenerateBody = z.infer<typeof generateBody>;

/** The inpainting fields used where they mean nothing: refused like a mask without its image, naming the field. */
function checkInpaintFields(b: GenerateBody): void {
  if (b.mask_image && !b.init_image) throw new ApiError(422, 'mask_image needs the image it masks: send init_image too.', { param: 'mask_image' });
  for (const param of ['mask_content', 'inpaint_area'] as const) {
    if (b[param] !== undefined && !b.mask_image) {
      throw new ApiError(422, `${param} only applies to inpainting: send mask_image (and init_image) too.`, { param });
    }
  }
  if (b.mask_padding !== undefined && b.inpaint_area !== 'masked') {
    throw new ApiError(422, 'mask_padding only applies with inpaint_area "masked".', { param: 'mask_padding' });
  }
}

function inputOf(b: GenerateBody): ApiGenerationInput {
  checkInpaintFields(b);
  return {
    prompt: b.prompt,
    ...(b.negative_prompt ? { negativePrompt: b.negative_prompt } : {}),
    ...(b.num_inference_steps !== undefined ? { steps: b.num_inference_steps } : {}),
    ...(b.guidance_scale !== undefined ? { guidance: b.guidance_scale } : {}),
    ...(b.width !== undefined ? { width: b.width } : {}),
    ...(b.height !== undefined ? { height: b.height } : {}),
    ...(b.seed !== undefined ? { seed: b.seed } : {}),
    ...(b.num_images !== undefined ? { count: b.num_images } : {}),
    ...(b.model ? { model: b.model } : {}),
    ...(b.scheduler ? { scheduler: b.scheduler } : {}),
    ...(b.init_image ? { initImage: decodeBase64Image(b.init_image, 'init_image') } : {}),
    ...(b.strength !== undefined ? { strength: b.strength } : {}),
    ...(b.mask_image ? { mask: decodeBase64Image(b.mask_image, 'mask_image') } : {}),
    ...(b.mask_blur !== undefined ? { maskBlur: b.mask_blur } : {}),
    ...(b.mask_invert ? { maskInvert: true } : {}),
    ...(b.mask_content ? { inpaintingFill: b.mask_content } : {}),
    ...(b.inpaint_area === 'masked' ? { inpaintArea: 'masked' as const } : {}),
    ...(b.mask_padding !== undefined ? { inpaintPadding: b.mask_padding } : {}),
  };
}

export function parametersOf(job: JobRecord) {
  const r = job.request;
  return {
    prompt: r.prompt,
    negative_prompt: r.negativePrompt ?? '',
    num_inference_steps: r.steps,
    guidance_scale: r.guidanceScale,
    width: r.width,
    height: r.height,
    seed: r.seed,
    num_images: r.count,
    model: job.model,
    scheduler: r.scheduler ?? null,
    ...(r.strength !== undefined ? { strength: r.strength } : {}),
    ...(job.maskImagePath ? maskParameters(r) : {}),
  };
}

/** A masked job's inpainting fields as the door names them, defaults filled in (what the engine used). */
function maskParameters(r: JobRecord['request']) {
  return {
    mask_blur: r.maskBlur ?? 0,
    mask_invert: r.maskInvert ?? false,
    mask_content: r.inpaintingFill ?? 'original',
    inpaint_area: r.inpaintArea ?? 'whole',
    ...(r.inpaintArea === 'masked' ? { mask_padding: r.inpaintPadding ?? DEFAULT_INPAINT_PADDING } : {}),
  };
}

const idParams = z.object({ id: z.string().max(64) });

export function registerSeedRoutes(app: ApiApp, ctx: ApiContext): void {
  const { jobs } = ctx;
  // Open event streams end when the server closes (fastify would wait for them otherwise).
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });

  app.post(
    '/generate',
    { schema: { body: generateBody, tags: ['seed'], summary: 'Generate and wait: base64 PNGs, their seeds and the parameters used' } },
    async (req) => {
      const { job } = await jobs.submit(principalOf(req), inputOf(req.body));
      const result = await jobs.result(job, ctx.config.syncTimeoutMs);
      return { id: job.id, images: result.images.map((png) => png.toString('base64')), seeds: result.job.seeds, parameters: parametersOf(result.job) };
    },
  );

  app.post('/jobs', { schema: { body: generateBody, tags: ['seed'], summary: 'Queue a job: 202 with its id' } }, async (req, reply) => {
    const { job, position } = await jobs.submit(principalOf(req), inputOf(req.body));
    return reply.code(202).header('location', `/jobs/${job.id}`).send({ id: job.id, status: job.state, position: position.position, eta_ms: position.etaMs });
  });

  app.get('/jobs/:id', { schema: { params: idParams, tags: ['seed'], summary: 'A job: status, position, progress, result' } }, async (req) => {
    const job = jobs.job(principalOf(req), req.params.id);
    return describeJob(job, ctx, fileUrls(req, ctx.config, job), job.state === 'done' ? await jobs.d.queue.outputs(job.id) : undefined);
  });

  app.delete('/jobs/:id', { schema: { params: idParams, tags: ['seed'], summary: 'Cancel a waiting or running job' } }, async (req) => {
    const job = await jobs.cancel(principalOf(req), req.params.id);
    return { id: job.id, status: job.state };
  });

  app.get('/jobs/:id/events', { schema: { params: idParams, tags: ['seed'], summary: 'Progress as Server-Sent Events until the job ends' } }, (req, reply) => {
    const job = jobs.job(principalOf(req), req.params.id);
    const urls = () => fileUrls(req, ctx.config, jobs.d.queue.get(job.id) ?? job);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let closed = false;
    const end = () => {
      if (closed) return;
      closed = true;
      streams.delete(end);
      stop();
      clearInterval(ping);
      res.end();
    };
    // Subscribed before the first state is read, so no event falls between the two.
    const stop = ctx.watch.subscribe(job.id, (e) => {
      const out = sseEvent(e, urls);
      send(out.event, out.data);
      if (out.final) end();
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    streams.add(end);
    // The client going away ends the stream only: the job goes on and stays fetchable by id.
    req.raw.on('close', end);
    const now = jobs.d.queue.get(job.id) ?? job;
    const state = describeJob(now, ctx, urls());
    send('state', state);
    if (['done', 'failed', 'cancelled'].includes(now.state)) {
      send(now.state, now.state === 'done' ? { id: now.id, seeds: now.seeds, urls: urls() } : { id: now.id, message: now.error ?? now.state });
      end();
    }
  });
}

function sseEvent(e: WatchEvent, urls: () => string[]): { event: string; data: unknown; final?: boolean } {
  switch (e.type) {
    case 'queued':
    case 'position':
      return { event: 'position', data: { position: e.position.position, eta_ms: e.position.etaMs } };
    case 'started':
      return { event: 'started', data: { id: e.job.id, device: e.job.device ?? null } };
    case 'progress':
      return { event: 'progress', data: { step: e.step, total_steps: e.totalSteps } };
    case 'done':
      return { event: 'done', data: { id: e.job.id, seeds: e.job.seeds, urls: urls() }, final: true };
    case 'failed':
      return { event: 'failed', data: { id: e.job.id, message: e.message }, final: true };
    case 'cancelled':
      return { event: 'cancelled', data: { id: e.job.id }, final: true };
  }
}

export function describeJob(job: JobRecord, ctx: ApiContext, urls: string[], images?: Buffer[]) {
  const position = ctx.jobs.position(job.id);
  const progress = ctx.watch.progress(job.id);
  return {
    id: job.id,
    status: job.state,
    position: job.state === 'queued' ? (position?.position ?? null) : null,
    eta_ms: job.state === 'queued' ? (position?.etaMs ?? null) : null,
    progress: job.state === 'running' ? { step: progress?.step ?? 0, total_steps: progress?.totalSteps || job.request.steps } : null,
    created_at: new Date(job.createdAt).toISOString(),
    parameters: parametersOf(job),
    ...(job.state === 'done' ? { result: { seeds: job.seeds, urls, ...(images ? { images: images.map((b) => b.toString('base64')) } : {}) } } : {}),
    ...(job.error ? { error: job.error } : {}),
  };
}

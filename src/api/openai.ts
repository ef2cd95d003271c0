// The OpenAI images door: /v1/images/generations, /v1/images/edits (multipart) and /v1/models,
// answered in the shapes the official SDKs parse, errors included ({error: {message, type, code}}).
import { z } from 'zod';
import { parseWxH } from '../jobs/sizes.js';
import { type ApiApp, type ApiContext, fileUrls, principalOf } from './context.js';
import { ApiError } from './errors.js';
import { checkImage, MAX_INPUT_IMAGE_BYTES } from './images.js';
import type { ApiGenerationInput, Principal } from './jobs-service.js';
import { repaintMaskFromAlpha, repaintMaskFromTransparency } from './masks.js';

/** OpenAI's own model names: clients send them by default, so they mean this server's default model. */
const OPENAI_MODELS = /^(dall-e-[23]|gpt-image-[\w.-]+)$/;

export const generationsBody = z.looseObject({
  prompt: z.string(),
  model: z.string().nullish(),
  n: z.number().int().nullish(),
  size: z.string().nullish(),
  response_format: z.enum(['b64_json', 'url']).nullish(),
  quality: z.string().nullish(),
  style: z.string().nullish(),
  user: z.string().nullish(),
});

type GenerationsFields = Pick<z.infer<typeof generationsBody>, 'prompt' | 'model' | 'n' | 'size'>;

function sizeOf(size: string | null | undefined): { width?: number; height?: number } {
  if (!size || size === 'auto') return {};
  const s = parseWxH(size);
  if (!s) throw new ApiError(400, `size "${size}" is not WxH (e.g. 512x512) or auto.`, { param: 'size', code: 'invalid_size' });
  return s;
}

function inputOf(ctx: ApiContext, principal: Principal, b: GenerationsFields): ApiGenerationInput {
  const model = b.model && !OPENAI_MODELS.test(b.model) ? b.model : undefined;
  if (model) ctx.jobs.model(principal, model); // 404 listing the installed ones
  return { prompt: b.prompt, ...(model ? { model } : {}), count: b.n ?? 1, ...sizeOf(b.size) };
}

export function registerOpenAiRoutes(app: ApiApp, ctx: ApiContext): void {
  const { jobs } = ctx;
  const tags = ['openai'];

  const answer = async (req: Parameters<typeof principalOf>[0], input: ApiGenerationInput, format: 'b64_json' | 'url' | null | undefined) => {
    const { job } = await jobs.submit(principalOf(req), input);
    const result = await jobs.result(job, ctx.config.syncTimeoutMs);
    const urls = fileUrls(req, ctx.config, result.job);
    return {
      created: Math.floor(result.job.createdAt / 1000),
      data: result.images.map((png, i) => (format === 'url' ? { url: urls[i] } : { b64_json: png.toString('base64') })),
    };
  };

  app.post('/v1/images/generations', { schema: { body: generationsBody, tags, summary: 'OpenAI image generation' } }, async (req) =>
    answer(req, inputOf(ctx, principalOf(req), req.body), req.body.response_format),
  );

  // Multipart, read by hand (@fastify/multipart): files are cut off at 20 MiB like Discord attachments.
  app.post(
    '/v1/images/edits',
    {
      schema: {
        tags,
        summary: 'OpenAI image edit (multipart: image, prompt, optional mask)',
        description:
          'mask: a PNG with an alpha channel, the size of image; its fully transparent pixels (alpha 0) are redrawn, the rest of image is kept. Without a mask, the fully transparent pixels of image itself are redrawn (DALL·E 2), and an image without any is redrawn whole (image-to-image).',
        consumes: ['multipart/form-data'],
      },
    },
    async (req) => {
      if (!req.isMultipart()) throw new ApiError(400, 'Send the edit as multipart/form-data with image and prompt.', { code: 'invalid_request' });
      const fields: Record<string, string> = {};
      let image: Uint8Array | undefined;
      let mask: Uint8Array | undefined;
      for await (const part of req.parts({ limits: { fileSize: MAX_INPUT_IMAGE_BYTES, files: 17, fields: 20, fieldSize: 64 * 1024 } })) {
        if (part.type === 'file') {
          const bytes = await part.toBuffer();
          if (part.file.truncated)
            throw new ApiError(413, `${part.fieldname} is larger than ${MAX_INPUT_IMAGE_BYTES / 1024 / 1024} MiB.`, { param: part.fieldname });
          if (part.fieldname === 'mask') mask = bytes.length > 0 ? checkImage(bytes, 'mask') : undefined;
          else if (/^image(\[\])?$/.test(part.fieldname) && !image) image = checkImage(bytes, 'image');
        } else {
          fields[part.fieldname] = String(part.value);
        }
      }
      if (!image) throw new ApiError(400, 'image is required (a PNG, JPEG or WebP file).', { param: 'image', code: 'invalid_image' });
      const parsed = generationsBody.safeParse({ ...fields, ...(fields.n !== undefined ? { n: Number(fields.n) } : {}) });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ApiError(400, `${String(issue.path[0] ?? 'body')}: ${issue.message}`, { param: String(issue.path[0] ?? ''), code: 'invalid_value' });
      }
      const input: ApiGenerationInput = { ...inputOf(ctx, principalOf(req), parsed.data), initImage: image };
      // Without a mask, the image's own transparent pixels are the mask (DALL·E 2), if it has any.
      const repaint = mask ? await repaintMaskFromAlpha(mask, image) : await repaintMaskFromTransparency(image);
      if (repaint) input.mask = repaint;
      return answer(req, input, parsed.data.response_format);
    },
  );

  app.get('/v1/models', { schema: { tags, summary: 'Installed models' } }, async () => ({
    object: 'list',
    data: jobs.modelNames().map((id) => ({ id, object: 'model', created: 0, owned_by: 'imagine-bot' })),
  }));
}

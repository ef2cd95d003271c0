// GET /files/{job}/{n}.png: an API job's output, for `url` responses, while the retention sweep
// (OUTPUT_RETENTION_DAYS) keeps it. No key needed: the job id is a random UUID, so the link is
// the permission (as OpenAI's signed URLs); Discord jobs are never served here.
import { z } from 'zod';
import { isApiJob } from '../jobs/api-requester.js';
import type { ApiApp, ApiContext } from './context.js';
import { ApiError } from './errors.js';

export function registerFileRoutes(app: ApiApp, ctx: ApiContext): void {
  app.get(
    '/files/:job/:file',
    {
      schema: {
        params: z.object({ job: z.string().regex(/^[\w-]{1,64}$/), file: z.string().regex(/^\d{1,2}\.png$/) }),
        tags: ['files'],
        summary: 'An output image',
      },
      config: { public: true },
    },
    async (req, reply) => {
      const job = ctx.jobs.d.queue.get(req.params.job);
      const index = Number.parseInt(req.params.file, 10);
      const gone = () => new ApiError(404, 'No such image (outputs are kept for OUTPUT_RETENTION_DAYS).', { code: 'file_not_found' });
      if (!job || !isApiJob(job) || job.state !== 'done' || job.outputsExpired || index >= job.outputs.length) throw gone();
      const images = await ctx.jobs.d.queue.outputs(job.id).catch(() => {
        throw gone();
      });
      return reply.type('image/png').header('cache-control', 'private, max-age=86400').send(images[index]);
    },
  );
}

// The status page: GET / serves one static HTML file (status-page.html, no build step), which
// reads GET /status with the key it is given and submits prompts through POST /jobs, following
// them over /jobs/{id}/events. /status: devices with their loaded models and current job, the
// queue with positions and ETAs, and recent results (the key's own; every key's for an admin).
import { readFileSync } from 'node:fs';
import { isApiJob } from '../jobs/api-requester.js';
import { apiRequester } from '../jobs/api-requester.js';
import type { ApiJobsStore } from '../store/api-jobs.js';
import { type ApiApp, type ApiContext, fileUrls, principalOf } from './context.js';

const PAGE = readFileSync(new URL('./status-page.html', import.meta.url), 'utf8');

export function registerStatusRoutes(app: ApiApp, ctx: ApiContext, recent: ApiJobsStore): void {
  const { jobs } = ctx;
  app.get('/', { schema: { hide: true }, config: { public: true } }, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
      .send(PAGE),
  );

  app.get('/status', { schema: { tags: ['status'], summary: 'Devices, queue and recent results for the status page' } }, async (req) => {
    const principal = principalOf(req);
    const mine = (job: { requester: { userId: string } }) => principal.admin || job.requester.userId === apiRequester(principal.name).userId;
    const queue = jobs.d.queue.positions().flatMap((p) => {
      const job = jobs.d.queue.get(p.jobId);
      if (!job) return [];
      // Other users' jobs are counted, not shown.
      const shown = isApiJob(job) && mine(job);
      return [
        {
          id: shown ? job.id : null,
          mine: shown,
          state: job.state,
          position: p.position,
          eta_ms: p.etaMs,
          device: p.device ?? null,
          prompt: shown ? job.request.prompt : null,
        },
      ];
    });
    const ids = recent.recentIds(principal.admin ? undefined : apiRequester(principal.name).userId, 12);
    return {
      key: principal.name,
      admin: principal.admin,
      devices: jobs.d.queue.workers().map((w) => ({ device: w.device, alive: w.alive, loaded_models: w.loadedModels, job: w.jobId ?? null })),
      models: jobs.modelNames(),
      queue,
      recent: ids.flatMap((id) => {
        const job = jobs.d.queue.get(id);
        if (!job) return [];
        return [
          {
            id,
            state: job.state,
            prompt: job.request.prompt,
            key: job.requester.username,
            urls: job.state === 'done' && !job.outputsExpired ? fileUrls(req, ctx.config, job) : [],
            error: job.error ?? null,
          },
        ];
      }),
    };
  });
}

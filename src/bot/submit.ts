// The pre-submit check every entry point runs (commands, buttons, later an HTTP API), and the
// hand-over to the queue, each failure turned into one sentence for the requester. Nothing here
// depends on a discord.js Interaction.
import { isUserFacingError } from '../diffusion/errors.js';
import { QueueLimitError, type JobRecord, type JobSpec, type QueuePosition } from '../queue/types.js';
import { admissionRequestOf } from '../settings/admission.js';
import type { BotContext } from './context.js';
import type { RouteOutcome } from './provider-routing.js';

export type SubmitOutcome = { ok: true; job: JobRecord; position: QueuePosition } | { ok: false; message: string };

/**
 * May this job be queued now, and where does it run? The guild's settings and the user's quotas
 * (admit), then local or Imagen by the guild's provider policy (route). A refusal's message is
 * written for the requester; entry points show it to them alone.
 */
export function preflight(ctx: Pick<BotContext, 'settings' | 'providers'>, spec: JobSpec): RouteOutcome {
  const admission = ctx.settings.admit(admissionRequestOf(spec));
  if (!admission.ok) return { ok: false, message: admission.message };
  if (!ctx.providers) return { ok: true, spec };
  const routed = ctx.providers.route(spec);
  return routed.ok ? routed : { ok: false, message: `⚠️ ${routed.message}` };
}

export async function submitJob(ctx: BotContext, spec: JobSpec, info: { uploadLimit?: number }): Promise<SubmitOutcome> {
  // Again right before the submit (entry points check earlier, to refuse before posting): nothing
  // awaits between this and the submit, so the Imagen daily cap it checked still holds.
  const routed = preflight(ctx, spec);
  if (!routed.ok) return routed;
  try {
    const { job, position } = await ctx.queue.submit(routed.spec);
    ctx.presenter.noteSubmitted(job.id, { ...info, ...(routed.note ? { note: routed.note } : {}) });
    ctx.presenter.showQueued(job, position);
    return { ok: true, job, position };
  } catch (err) {
    if (err instanceof QueueLimitError) return { ok: false, message: `⏳ ${err.message}` };
    if (isUserFacingError(err)) return { ok: false, message: `⚠️ ${err.message}` };
    ctx.log.error({ err }, 'submit failed');
    return { ok: false, message: `⚠️ The queue could not take this job: ${(err as Error).message ?? String(err)}` };
  }
}

/** Where the requester is, from any interaction. */
export function requesterOf(i: { user: { id: string; username: string }; guildId: string | null; channelId: string | null }): JobSpec['requester'] {
  return { userId: i.user.id, username: i.user.username, guildId: i.guildId, channelId: i.channelId ?? '' };
}

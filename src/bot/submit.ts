// Hands a job to the queue and turns every way that can fail into one sentence for Discord.
import { isUserFacingError } from '../diffusion/errors.js';
import { QueueLimitError, type JobRecord, type JobSpec, type QueuePosition } from '../queue/types.js';
import { admit } from './admission.js';
import type { BotContext } from './context.js';

export type SubmitOutcome = { ok: true; job: JobRecord; position: QueuePosition } | { ok: false; message: string };

export async function submitJob(ctx: BotContext, spec: JobSpec, info: { uploadLimit?: number }): Promise<SubmitOutcome> {
  // The guild's settings and the user's quotas, for commands and buttons alike.
  const admission = admit(ctx, spec);
  if (!admission.ok) return { ok: false, message: admission.message };
  // Local or Imagen, by the guild's provider policy; nothing awaits between this and the submit,
  // so the Imagen daily cap it checked still holds when the job is stored.
  const routed = ctx.providers ? ctx.providers.route(spec) : { ok: true as const, spec };
  if (!routed.ok) return { ok: false, message: `⚠️ ${routed.message}` };
  try {
    const { job, position } = await ctx.queue.submit(routed.spec);
    ctx.presenter.noteSubmitted(job.id, { ...info, ...('note' in routed && routed.note ? { note: routed.note } : {}) });
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
export function requesterOf(i: {
  user: { id: string; username: string };
  guildId: string | null;
  channelId: string | null;
}): JobSpec['requester'] {
  return { userId: i.user.id, username: i.user.username, guildId: i.guildId, channelId: i.channelId ?? '' };
}

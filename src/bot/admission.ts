// The bot's side of the admission check: a job spec (from /imagine or a button) becomes an
// admission request against the guild's settings and the user's usage. submitJob runs it before
// every job; commands may run it earlier too, to answer ephemerally before deferring.
import type { JobSpec } from '../queue/types.js';
import type { Admission, AdmissionRequest } from '../settings/admission.js';
import type { BotContext } from './context.js';

export function admissionRequestOf(spec: Pick<JobSpec, 'kind' | 'model' | 'request' | 'requester'>): AdmissionRequest {
  const r = spec.request;
  return {
    guildId: spec.requester.guildId,
    userId: spec.requester.userId,
    channelId: spec.requester.channelId,
    kind: spec.kind,
    model: spec.model,
    prompt: r.prompt,
    images: spec.kind === 'upscale' ? 1 : Math.max(1, r.count ?? 1),
    steps: r.steps,
    width: r.width,
    height: r.height,
  };
}

/** May this job be queued now? A refusal's message is written for the requester. */
export function admit(ctx: Pick<BotContext, 'settings'>, spec: Pick<JobSpec, 'kind' | 'model' | 'request' | 'requester'>): Admission {
  return ctx.settings.admit(admissionRequestOf(spec));
}

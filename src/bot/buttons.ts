// The result buttons. U/V/🔄 start a new job from the stored one (its parameters and images are
// in the durable store, so this works after a restart) and post it as a reply to the clicked
// message, mentioning the clicker (edit-post.ts); the tools under a single image are in
// edit-actions.ts. ❌ and ℹ️ answer only the clicker. Every button checks that
// its job belongs to the guild it is clicked in (job-access.ts): a custom id carried to another
// server finds nothing there.
import { readFile } from 'node:fs/promises';
import { MessageFlags, type ButtonInteraction, type ModalSubmitInteraction } from 'discord.js';
import type { JobRecord, JobSpec } from '../queue/types.js';
import type { BotContext } from './context.js';
import type { ButtonRef } from './custom-id.js';
import { randomSeed } from './imagine-options.js';
import { infoText, jobTitle } from './render.js';
import { requesterOf } from './submit.js';
import { callerOf, jobForCaller, mayCancel } from './job-access.js';
import { isEditAction } from './edit-catalog.js';
import { handleEditButton } from './edit-actions.js';
import { GONE, postDerivedJob, tellClicker } from './edit-post.js';
import { applyRemix, remixOrSubmit, type RemixEdit } from './remix.js';
import { withoutInpainting } from './inpaint-options.js';

export async function handleButton(i: ButtonInteraction, ref: ButtonRef, ctx: BotContext): Promise<void> {
  switch (ref.action) {
    case 'info':
      return info(i, ref, ctx);
    case 'cancel':
      return cancel(i, ref, ctx);
    case 'upscale':
      return derive(i, ref, ctx);
    case 'variation':
    case 'reroll':
      // 🔄 and V: with remix on, a form with the prompt comes first (remix.ts).
      return remixOrSubmit(i, ref, ctx, () => derive(i, ref, ctx));
    default:
      // The tools under a single image: Vary (remix-aware too), Upscale (Subtle/Creative), Zoom Out, pans.
      if (isEditAction(ref.action)) return handleEditButton(i, { ...ref, action: ref.action }, ctx);
      return derive(i, ref, ctx);
  }
}

async function info(i: ButtonInteraction, ref: ButtonRef, ctx: BotContext): Promise<void> {
  const job = jobForCaller((id) => ctx.queue.get(id), ref.jobId, callerOf(i));
  const found = job ? ctx.catalog.lookup(job.model) : undefined;
  const scheduler = job?.request.scheduler ?? (found?.ok ? found.model.defaults.scheduler : undefined);
  await i.reply({ content: job ? infoText(job, scheduler) : GONE, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

async function cancel(i: ButtonInteraction, ref: ButtonRef, ctx: BotContext): Promise<void> {
  await i.deferReply({ flags: MessageFlags.Ephemeral });
  const caller = callerOf(i);
  const job = jobForCaller((id) => ctx.queue.get(id), ref.jobId, caller);
  if (!job) return void (await i.editReply({ content: GONE, allowedMentions: { parse: [] } }));
  const allowed = mayCancel(job, caller);
  if (allowed) ctx.presenter.noteCancelledBy(job.id, i.user.id);
  // The queue checks requester or admin again; a moderator counts here, in the job's own guild.
  const result = allowed ? await ctx.queue.cancel(job.id, { userId: i.user.id, isAdmin: caller.moderator }) : 'forbidden';
  const answers = {
    cancelled: 'Cancelled.',
    forbidden: `Only <@${job?.requester.userId}> (who asked for it) or a moderator can cancel this job.`,
    already_finished: 'This job has already finished.',
    not_found: GONE,
  } as const;
  await i.editReply({ content: answers[result], allowedMentions: { parse: [] } });
}

/** The new job's spec for U/V/🔄, or a sentence saying why there is none. */
async function deriveSpec(
  ref: ButtonRef,
  parent: JobRecord,
  i: ButtonInteraction | ModalSubmitInteraction,
  ctx: BotContext,
): Promise<Omit<JobSpec, 'messageId'> | string> {
  const spec = await deriveBaseSpec(ref, parent, i, ctx);
  if (typeof spec === 'string' || !parent.request.controlnet) return spec;
  // --- ControlNet: V and 🔄 keep the control (its image is stored with the parent); U drops it ---
  if (spec.kind === 'upscale') {
    const { controlnet: _dropped, ...request } = spec.request;
    return { ...spec, request };
  }
  const controlImage = parent.controlImagePath ? await readFile(parent.controlImagePath).catch(() => undefined) : undefined;
  if (!controlImage) return 'The control image of that job is gone (deleted by the retention sweep?), so its ControlNet cannot be reused.';
  return { ...spec, controlImage };
}

async function deriveBaseSpec(
  ref: ButtonRef,
  parent: JobRecord,
  i: ButtonInteraction | ModalSubmitInteraction,
  ctx: BotContext,
): Promise<Omit<JobSpec, 'messageId'> | string> {
  if (parent.state !== 'done') return 'That job has no images yet.';
  if (parent.kind === 'upscale') return 'An upscaled image has its own tools (Vary, Zoom Out, pans…) instead of U and V.';
  const base = { model: parent.model, requester: requesterOf(i), parent: { jobId: parent.id, imageIndex: ref.index } };
  if (ref.action === 'reroll') {
    // A fresh run of the same request, not derived from one image: no `parent`.
    const fresh = { model: parent.model, requester: base.requester, request: { ...parent.request, seed: randomSeed(parent.request.count) } };
    // 🔄 on a cloud result asks the cloud again (the provider policy may still keep it local).
    if (parent.provider === 'imagen') return { ...fresh, kind: 'txt2img', provider: 'imagen' };
    if (parent.kind === 'txt2img') return { ...fresh, kind: 'txt2img' };
    const input = await ctx.queue.input(parent.id);
    if (!input) return GONE;
    if (!parent.maskImagePath) return { ...fresh, kind: 'img2img', initImage: input };
    // An inpainting's new seeds repaint the same masked area, with its mask content and area.
    const mask = await readFile(parent.maskImagePath).catch(() => undefined);
    if (!mask) return GONE;
    return { ...fresh, kind: 'img2img', initImage: input, maskImage: mask };
  }
  const image = (await ctx.queue.outputs(parent.id))[ref.index];
  if (!image) return GONE;
  // A variation of an edit's result (zoom, pan…) or of an inpainting is a plain image-to-image
  // of the whole image: the parent's mask and its options stay behind.
  const { edit: _edit, ...plainRequest } = withoutInpainting(parent.request);
  // A withheld image stays withheld: no upscale or variation of it.
  if ((await ctx.safety.verdictOf(parent, ref.index)) === 'block') {
    return `Image ${ref.index + 1} was withheld (the safety checker flagged it), so it has no ${ref.action === 'upscale' ? 'upscale' : 'variations'}.`;
  }
  // A cloud image has no seed (UNKNOWN_SEED, below the engine's range): its upscale keeps the
  // request's own seed, which an upscale does not use anyway.
  const known = parent.seeds[ref.index];
  const seed = known !== undefined && known >= 0 ? known : Math.max(0, parent.request.seed) + ref.index;
  if (ref.action === 'upscale') {
    return { ...base, kind: 'upscale', request: { ...withoutInpainting(parent.request), seed, count: 1 }, initImage: image, upscaleFactor: 2 };
  }
  if (parent.provider === 'imagen') {
    // V on a cloud result: the cloud model edits that image (the policy may still route it locally,
    // or the legacy Imagen path, which takes no image, leaves it to the local engine).
    return {
      ...base,
      kind: 'img2img',
      request: { ...plainRequest, seed: randomSeed(parent.request.count), strength: ctx.config.variationStrength },
      initImage: image,
      provider: 'imagen',
    };
  }
  const strength = ctx.config.variationStrength;
  return {
    ...base,
    kind: 'img2img',
    request: { ...plainRequest, seed: randomSeed(parent.request.count), strength },
    initImage: image,
  };
}

/** U/V/🔄 from a click, or (remix) from the submitted form with the edited prompt. */
export async function derive(i: ButtonInteraction | ModalSubmitInteraction, ref: ButtonRef, ctx: BotContext, edit?: RemixEdit): Promise<void> {
  await i.deferUpdate();
  const parent = jobForCaller((id) => ctx.queue.get(id), ref.jobId, callerOf(i));
  if (!parent) return tellClicker(i, GONE);
  const derived = await deriveSpec(ref, parent, i, ctx);
  if (typeof derived === 'string') return tellClicker(i, derived);
  const spec = edit ? applyRemix(derived, ref, edit) : derived;
  const title = ref.action === 'reroll' && !edit ? 'New seeds' : jobTitle({ kind: spec.kind, parent: spec.parent, upscaleFactor: spec.upscaleFactor });
  await postDerivedJob(i, spec, title, ctx);
}

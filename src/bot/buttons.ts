// The result buttons. U/V/🔄 start a new job from the stored one (its parameters and images are
// in the durable store, so this works after a restart) and post it as a reply to the clicked
// message, mentioning the clicker. ❌ and ℹ️ answer only the clicker. Every button checks that
// its job belongs to the guild it is clicked in (job-access.ts): a custom id carried to another
// server finds nothing there.
import { readFile } from 'node:fs/promises';
import { MessageFlags, type ButtonInteraction } from 'discord.js';
import type { JobRecord, JobSpec } from '../queue/types.js';
import type { BotContext } from './context.js';
import type { ButtonRef } from './custom-id.js';
import { randomSeed } from './imagine-options.js';
import { infoText, jobTitle, shortPrompt } from './render.js';
import { preflight, requesterOf, submitJob } from './submit.js';
import { callerOf, jobForCaller, mayCancel } from './job-access.js';

const GONE = 'That job is no longer stored (outputs are kept for a limited time); run /imagine again.';

export async function handleButton(i: ButtonInteraction, ref: ButtonRef, ctx: BotContext): Promise<void> {
  switch (ref.action) {
    case 'info':
      return info(i, ref, ctx);
    case 'cancel':
      return cancel(i, ref, ctx);
    default:
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
async function deriveSpec(ref: ButtonRef, parent: JobRecord, i: ButtonInteraction, ctx: BotContext): Promise<Omit<JobSpec, 'messageId'> | string> {
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

async function deriveBaseSpec(ref: ButtonRef, parent: JobRecord, i: ButtonInteraction, ctx: BotContext): Promise<Omit<JobSpec, 'messageId'> | string> {
  if (parent.state !== 'done') return 'That job has no images yet.';
  if (parent.kind === 'upscale') return 'Upscaled images have no further buttons; use the original grid.';
  const base = { model: parent.model, requester: requesterOf(i), parent: { jobId: parent.id, imageIndex: ref.index } };
  if (ref.action === 'reroll') {
    // A fresh run of the same request, not derived from one image: no `parent`.
    const fresh = { model: parent.model, requester: base.requester, request: { ...parent.request, seed: randomSeed(parent.request.count) } };
    // 🔄 on a cloud result asks the cloud again (the provider policy may still keep it local).
    if (parent.provider === 'imagen') return { ...fresh, kind: 'txt2img', provider: 'imagen' };
    if (parent.kind === 'txt2img') return { ...fresh, kind: 'txt2img' };
    const input = await ctx.queue.input(parent.id);
    if (!input) return GONE;
    return { ...fresh, kind: 'img2img', initImage: input };
  }
  const image = (await ctx.queue.outputs(parent.id))[ref.index];
  if (!image) return GONE;
  // A withheld image stays withheld: no upscale or variation of it.
  if ((await ctx.safety.verdictOf(parent, ref.index)) === 'block') {
    return `Image ${ref.index + 1} was withheld (the safety checker flagged it), so it has no ${ref.action === 'upscale' ? 'upscale' : 'variations'}.`;
  }
  // A cloud image has no seed (UNKNOWN_SEED, below the engine's range): its upscale keeps the
  // request's own seed, which an upscale does not use anyway.
  const known = parent.seeds[ref.index];
  const seed = known !== undefined && known >= 0 ? known : Math.max(0, parent.request.seed) + ref.index;
  if (ref.action === 'upscale') {
    return { ...base, kind: 'upscale', request: { ...parent.request, seed, count: 1 }, initImage: image, upscaleFactor: 2 };
  }
  if (parent.provider === 'imagen') {
    // V on a cloud result: the cloud model edits that image (the policy may still route it locally,
    // or the legacy Imagen path, which takes no image, leaves it to the local engine).
    return {
      ...base,
      kind: 'img2img',
      request: { ...parent.request, seed: randomSeed(parent.request.count), strength: ctx.config.variationStrength },
      initImage: image,
      provider: 'imagen',
    };
  }
  const strength = ctx.config.variationStrength;
  return {
    ...base,
    kind: 'img2img',
    request: { ...parent.request, seed: randomSeed(parent.request.count), strength },
    initImage: image,
  };
}

async function derive(i: ButtonInteraction, ref: ButtonRef, ctx: BotContext): Promise<void> {
  await i.deferUpdate();
  const ephemeral = (content: string) => i.followUp({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } }).then(() => undefined);
  const parent = jobForCaller((id) => ctx.queue.get(id), ref.jobId, callerOf(i));
  if (!parent) return ephemeral(GONE);
  const spec = await deriveSpec(ref, parent, i, ctx);
  if (typeof spec === 'string') return ephemeral(spec);
  // Settings, quotas, and whether anything here may draw it: say so before posting anything.
  const checked = preflight(ctx, spec);
  if (!checked.ok) return ephemeral(checked.message);

  const title = ref.action === 'reroll' ? 'New seeds' : jobTitle({ kind: spec.kind, parent: spec.parent, upscaleFactor: spec.upscaleFactor });
  const headline = `**${shortPrompt(spec.request.prompt)}** · ${title} — <@${i.user.id}>`;
  let messageId: string;
  try {
    const posted = await ctx.messenger.postChannel(spec.requester.channelId, {
      content: `${headline}\n⏳ Queuing…`,
      mentionUsers: [i.user.id],
      replyTo: i.message.id,
    });
    messageId = posted.id;
  } catch (err) {
    ctx.log.warn({ err: String(err) }, 'cannot post a button result message');
    return ephemeral(`⚠️ I cannot post in this channel (${(err as Error).message}); ask a moderator to let me send messages here.`);
  }
  const outcome = await submitJob(ctx, { ...spec, messageId }, { uploadLimit: i.attachmentSizeLimit });
  if (!outcome.ok) {
    await ctx.messenger
      .editChannel(spec.requester.channelId, messageId, { content: `${headline}\n${outcome.message}`, components: [] })
      .catch(() => ephemeral(outcome.message));
  }
}

// Queue events → Discord. Everything it needs comes from the job record (channel, message id,
// interaction token) and, for a job's last message, from its outbox row (src/bot/outbox.ts), so
// jobs that outlive a restart are still shown and delivered, and a result counts as delivered
// only once Discord confirmed its message. Per-job state in memory is only an optimisation
// (throttling, the upload limit the interaction gave).
import type { Logger } from 'pino';
import sharp from 'sharp';
import type { PreviewImage } from '../diffusion/types.js';
import { isApiJob } from '../jobs/api-requester.js';
import type { JobQueue, JobRecord, QueueEvents, QueuePosition } from '../queue/types.js';
import { DEFAULT_UPLOAD_LIMIT, fitImage, type OutgoingFile } from './attachments.js';
import { apiErrorCode, DiscordCodes, type MessagePayload, type Messenger } from './messenger.js';
import { makeGrid } from './grid.js';
import type { ModelCatalog } from './model-catalog.js';
import { previewFile } from './preview-image.js';
import { ThrottledEditor } from './progress.js';
import {
  cancelledContent,
  doneContent,
  failedContent,
  pendingComponents,
  queuedContent,
  resultComponents,
  resultEmbed,
  runningContent,
  shortPrompt,
  jobTitle,
  withheldContent,
} from './render.js';
import { SPOILER_PREFIX, type ImageSafetyHook } from './safety-delivery.js';
import { DeliveryOutbox, isTransient, PermanentDeliveryError, type RetryPolicy } from './outbox.js';
import type { Delivery, DeliveryKind, DeliveryMode, DeliveryStore } from '../store/deliveries.js';

export type { ImageSafetyHook } from './safety-delivery.js';

export interface PresenterDeps {
  queue: JobQueue;
  messenger: Messenger;
  catalog: ModelCatalog;
  progressIntervalMs: number;
  log: Logger;
  safety?: ImageSafetyHook;
  /** Whether step previews may show this job's picture (not when a safety check is pending). */
  previewsAllowed?: (job: JobRecord) => Promise<boolean>;
  /** The outbox rows: last messages owed until Discord confirms them. */
  deliveries: DeliveryStore;
  /** How delivery retries back off (DELIVERY_RETRY_*); 24 h of retries by default. */
  retry?: RetryPolicy;
}

interface JobView {
  editor: ThrottledEditor;
  uploadLimit?: number;
  cancelledBy?: string;
  /** Said under the queue position (e.g. why Imagen was not used). */
  note?: string;
  /** The newest step preview: workers send one only every so often, not with every step. */
  preview?: PreviewImage;
}

export class JobPresenter {
  private readonly views = new Map<string, JobView>();
  /** Jobs whose last message went out: late status events for them are ignored. */
  private readonly finished = new Set<string>();
  private readonly handlers: { [E in keyof QueueEvents]: QueueEvents[E] };
  private readonly outbox: DeliveryOutbox;

  constructor(private readonly d: PresenterDeps) {
    this.outbox = new DeliveryOutbox({ store: d.deliveries, deliver: (x) => this.deliver(x), log: d.log, ...(d.retry ? { retry: d.retry } : {}) });
    this.handlers = {
      queued: (job, pos) => this.showQueued(job, pos),
      position: (pos) => {
        const job = d.queue.get(pos.jobId);
        if (job?.state === 'queued') this.showQueued(job, pos);
      },
      started: (job) => this.status(job, { content: runningContent(job), components: pendingComponents(job.id), files: [] }),
      progress: (job, p) => this.showProgress(job, p),
      // An /imagine result is a new message replying to the request (it pings the requester and
      // needs no token); a button job's message is already such a reply, so it is edited.
      // A stealth result replaces the requester's ephemeral response instead (its token lives 15
      // minutes; after that the messenger posts it in the channel, so it is never lost).
      done: (job) => this.owe(job, 'done', job.interaction && !job.stealth ? 'reply' : 'in-place'),
      failed: (job, message) => this.owe(job, 'failed', 'in-place', message),
      cancelled: (job) => this.owe(job, 'cancelled', 'in-place'),
    };
  }

  /** Listens to the queue and resumes the deliveries earlier runs still owe. */
  attach(): void {
    for (const [event, handler] of Object.entries(this.handlers)) this.d.queue.on(event as keyof QueueEvents, handler as never);
    this.outbox.resume();
    for (const owed of this.d.deliveries.pending()) this.finished.add(owed.jobId);
  }

  detach(): void {
    for (const [event, handler] of Object.entries(this.handlers)) this.d.queue.off(event as keyof QueueEvents, handler as never);
  }

  /** What the submitting interaction told us that the job record does not keep. */
  noteSubmitted(jobId: string, info: { uploadLimit?: number; note?: string }): void {
    const view = this.view(jobId);
    view.uploadLimit = info.uploadLimit;
    if (info.note) view.note = info.note;
  }

  noteCancelledBy(jobId: string, userId: string): void {
    this.view(jobId).cancelledBy = userId;
  }

  showQueued(job: JobRecord, pos: QueuePosition): void {
    if (this.d.queue.get(job.id)?.state !== 'queued') return;
    this.status(job, { content: queuedContent(job, pos, this.views.get(job.id)?.note), components: pendingComponents(job.id) });
  }

  /** Finished jobs of this user in this guild whose message Discord has not confirmed yet. */
  undelivered(userId: string, guildId: string | null): string[] {
    return this.d.deliveries.undeliveredOf(userId, guildId);
  }

  /** Stops status edits and delivery retries, waits for those in flight (shutdown); owed messages stay owed. */
  async shutdown(): Promise<void> {
    this.detach();
    await Promise.all([this.outbox.stop(), ...[...this.views.values()].map((v) => v.editor.finish(async () => undefined))]);
  }

  private view(jobId: string): JobView {
    let v = this.views.get(jobId);
    if (!v) {
      const log = this.d.log.child({ jobId });
      v = { editor: new ThrottledEditor(this.d.progressIntervalMs, (err) => log.warn({ err: String(err) }, 'progress edit failed')) };
      this.views.set(jobId, v);
    }
    return v;
  }

  private status(job: JobRecord, p: MessagePayload | (() => Promise<MessagePayload>)): void {
    // HTTP API jobs share the queue but have no Discord message.
    if (this.finished.has(job.id) || isApiJob(job)) return;
    const build = typeof p === 'function' ? p : async () => p;
    this.view(job.id).editor.update(async () => this.d.messenger.editJobMessage(job, await build()));
  }

  private showProgress(job: JobRecord, p: { step: number; totalSteps: number; preview?: PreviewImage }): void {
    const view = this.view(job.id);
    if (p.preview) view.preview = p.preview;
    const preview = view.preview;
    this.status(job, async () => {
      const files: OutgoingFile[] = [];
      if (preview && (await (this.d.previewsAllowed?.(job) ?? true))) files.push(await previewFile(preview, job.request));
      return { content: runningContent(job, p), components: pendingComponents(job.id), files };
    });
  }

  private scheduler(job: JobRecord): string | undefined {
    if (job.request.scheduler) return job.request.scheduler;
    const found = this.d.catalog.lookup(job.model);
    return found.ok ? found.model.defaults.scheduler : undefined;
  }

  private async resultPayload(job: JobRecord, limitOverride?: number): Promise<MessagePayload> {
    const limit = limitOverride ?? this.views.get(job.id)?.uploadLimit ?? DEFAULT_UPLOAD_LIMIT;
    let pngs = await this.d.queue.outputs(job.id);
    // The size as drawn: Imagen picks its own, close to the requested aspect ratio.
    const drawn = pngs[0]
      ? await sharp(pngs[0])
          .metadata()
          .catch(() => undefined)
      : undefined;
    const imageSize = drawn?.width && drawn.height ? { width: drawn.width, height: drawn.height } : undefined;
    const notes: string[] = [];
    let indices = pngs.map((_, i) => i);
    let spoiler: boolean[] = [];
    if (this.d.safety && pngs.length > 0) {
      const checked = await this.d.safety(job, pngs);
      pngs = checked.pngs;
      notes.push(...checked.notes);
      indices = checked.indices ?? pngs.map((_, i) => i);
      spoiler = checked.spoiler ?? [];
    }
    if (pngs.length === 0) {
      if (notes.length) return { content: withheldContent(job, notes.join('; ')), components: resultComponents(job, []), files: [] };
      return { content: failedContent(job, 'no image came back'), components: [], files: [] };
    }
    const spoilers = spoiler.some(Boolean);
    const hide = (hidden: boolean | undefined, stem: string) => (hidden ? `${SPOILER_PREFIX}${stem}` : stem);
    // Seeds Imagen picked itself are unknown (-1): those files are numbered instead.
    const name = (seed: number, i: number) => (seed >= 0 ? `seed-${seed}` : `image-${i + 1}`);
    // An upscale is named after the image it enlarges (the parent's seed, when it has one).
    const parentSeed = job.parent ? this.d.queue.get(job.parent.jobId)?.seeds[job.parent.imageIndex] : undefined;
    const stem = (i: number) =>
      job.kind === 'upscale'
        ? `${name(parentSeed ?? job.seeds[i] ?? job.request.seed, job.parent?.imageIndex ?? i)}-x${job.upscaleFactor ?? 2}`
        : name(job.seeds[i] ?? job.request.seed + i, i);
    const files = await Promise.all(pngs.map((png, k) => fitImage(png, hide(spoiler[k], stem(indices[k])), limit)));
    let imageName: string | undefined = files[0].name;
    if (pngs.length > 1) {
      const grid = await fitImage(await makeGrid(pngs), hide(spoilers, 'grid'), limit);
      files.unshift(grid);
      imageName = grid.name;
    }
    // An embed shows its image openly: spoilers stay attachments only.
    if (spoilers) imageName = undefined;
    if (files.some((f) => f.contentType !== 'image/png')) notes.push('PNG exceeded the upload limit here, so some files are WebP/JPEG');
    const title = jobTitle(job);
    return {
      content: `**${shortPrompt(job.request.prompt)}**${title ? ` · ${title}` : ''} — <@${job.requester.userId}>`,
      embeds: [resultEmbed(job, { scheduler: this.scheduler(job), imageName, notes, ...(imageSize ? { imageSize } : {}) })],
      components: resultComponents(job, indices),
      files,
    };
  }

  /** A job ended: its last message is owed (durably) until Discord confirms it. */
  private owe(job: JobRecord, kind: DeliveryKind, mode: DeliveryMode, message?: string): void {
    if (this.finished.has(job.id) || isApiJob(job)) return;
    this.finished.add(job.id);
    if (this.finished.size > 10_000) this.finished.delete(this.finished.values().next().value!);
    const view = this.views.get(job.id);
    this.outbox.enqueue(job.id, kind, mode, {
      ...(message !== undefined ? { message } : {}),
      ...(view?.cancelledBy ? { cancelledBy: view.cancelledBy } : {}),
      ...(view?.uploadLimit ? { uploadLimit: view.uploadLimit } : {}),
    });
  }

  /**
   * One attempt at a job's last message (the outbox retries transient failures). When Discord
   * refuses it for good, the requester is told in the job's message or the channel instead.
   * Resolves with the id of the message that shows it.
   */
  private async deliver(owed: Delivery): Promise<string> {
    const job = this.d.queue.get(owed.jobId);
    if (!job) throw new JobGoneError(owed.jobId);
    const view = this.view(job.id);
    const log = this.d.log.child({ jobId: job.id });
    try {
      // Progress edits in flight finish first, so none lands after the last message.
      return await view.editor.finish(async () => {
        const closing = owed.mode === 'reply' ? { content: doneContent(job), components: [] } : undefined;
        let payload = await this.payloadOf(job, owed);
        const replyTo = job.parent ? this.d.queue.get(job.parent.jobId)?.messageId : undefined;
        for (let attempt = 0; ; attempt++) {
          try {
            const messageId = await this.d.messenger.deliverFinal(job, payload, { mode: owed.mode, fallbackReplyTo: replyTo, closing });
            if (messageId !== job.messageId) this.d.queue.setMessage(job.id, messageId);
            return messageId;
          } catch (err) {
            // The guild's limit is lower than we were told (or a restart lost it): shrink and retry.
            if (apiErrorCode(err) !== DiscordCodes.RequestEntityTooLarge || attempt >= 2 || owed.kind !== 'done') throw err;
            const smaller = Math.floor((owed.detail.uploadLimit ?? DEFAULT_UPLOAD_LIMIT) / 4 ** (attempt + 1));
            log.warn({ limit: smaller }, 'upload too large; re-encoding smaller');
            payload = await this.resultPayload(job, smaller);
          }
        }
      });
    } catch (err) {
      if (isTransient(err)) throw err;
      log.error({ err }, 'Discord refused the job message');
      const content = `<@${job.requester.userId}> Job \`${job.id}\` ended (${job.state}), but Discord refused its message: ${String((err as Error).message ?? err).slice(0, 300)}`;
      try {
        await this.d.messenger.editJobMessage(job, { content, components: [], files: [] });
        if (job.messageId) return job.messageId;
      } catch (e) {
        if (isTransient(e)) throw e;
      }
      return (await this.d.messenger.postChannel(job.requester.channelId, { content, mentionUsers: [job.requester.userId] })).id;
    } finally {
      this.views.delete(job.id);
    }
  }

  private async payloadOf(job: JobRecord, owed: Delivery): Promise<MessagePayload> {
    switch (owed.kind) {
      case 'done':
        return this.resultPayload(job, owed.detail.uploadLimit);
      case 'failed':
        return { content: failedContent(job, owed.detail.message ?? job.error ?? 'unknown error'), components: [], files: [] };
      case 'cancelled':
        return { content: cancelledContent(job, owed.detail.cancelledBy), components: [], files: [] };
    }
  }
}

/** The job's record is gone (expired, deleted): nothing left to deliver. */
class JobGoneError extends PermanentDeliveryError {
  constructor(jobId: string) {
    super(`job ${jobId} is no longer stored`);
  }
}

// Where a job's message lives and how to reach it. An /imagine job starts as the deferred
// interaction response, edited through the interaction token, which Discord honours for 15
// minutes only; after that (or when Discord says so: 50027, 10015) the bot uses its own channel
// endpoints. Button jobs are channel messages from the start. A final state that cannot be
// written into the job's message is posted as a new message replying to it, mentioning the
// requester, so a result is never lost.
import { DiscordAPIError, Routes, type APIEmbed, type APIMessage, type REST, type RawFile } from 'discord.js';
import type { InteractionRef, JobRecord } from '../queue/types.js';
import type { OutgoingFile } from './attachments.js';
import type { ActionRow } from './render.js';

export interface MessagePayload {
  content?: string;
  embeds?: APIEmbed[];
  components?: ActionRow[];
  /** Replaces the message's files (an empty list removes them). */
  files?: OutgoingFile[];
  /** Users actually pinged; everyone else named in the content is not. */
  mentionUsers?: string[];
  /** Channel messages only: reply to this message. */
  replyTo?: string;
  /**
   * Channel messages only: Discord returns the message already created with this nonce (for a
   * few minutes) instead of a second one, so a retry after a lost response posts no duplicate.
   */
  nonce?: string;
}

/** Interaction tokens live 15 minutes; stop using one a little before, as an upload takes time. */
export const TOKEN_LIFETIME_MS = 15 * 60_000;
export const TOKEN_MARGIN_MS = 30_000;

export const DiscordCodes = {
  UnknownMessage: 10008,
  UnknownWebhook: 10015,
  InvalidWebhookToken: 50027,
  RequestEntityTooLarge: 40005,
  MaxEditsOldMessage: 30046,
  MissingAccess: 50001,
  MissingPermissions: 50013,
} as const;

export function apiErrorCode(err: unknown): number | undefined {
  return err instanceof DiscordAPIError && typeof err.code === 'number' ? err.code : undefined;
}

/** The token is dead or unknown: switch to channel endpoints. */
export function isTokenError(err: unknown): boolean {
  if (!(err instanceof DiscordAPIError)) return false;
  return err.code === DiscordCodes.InvalidWebhookToken || err.code === DiscordCodes.UnknownWebhook || err.status === 401;
}

/** The message cannot be edited any more: post a new one instead. */
function isUneditable(err: unknown): boolean {
  const code = apiErrorCode(err);
  return code === DiscordCodes.UnknownMessage || code === DiscordCodes.MaxEditsOldMessage || code === 50005;
}

function toBody(p: MessagePayload, create: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    content: p.content ?? '',
    embeds: p.embeds ?? [],
    components: p.components ?? [],
    allowed_mentions: { parse: [], users: p.mentionUsers ?? [] },
  };
  if (p.files) body.attachments = p.files.map((f, i) => ({ id: i, filename: f.name }));
  if (create && p.replyTo) body.message_reference = { message_id: p.replyTo, fail_if_not_exists: false };
  if (create && p.nonce) Object.assign(body, { nonce: p.nonce.slice(0, 25), enforce_nonce: true });
  return body;
}

function toFiles(p: MessagePayload): RawFile[] | undefined {
  return p.files?.map((f, i) => ({ name: f.name, data: f.data, contentType: f.contentType, key: `files[${i}]` }));
}

/** The nonce of a job's last message: the same on every retry, 25 characters at most. */
export function finalNonce(jobId: string): string {
  return `f${jobId.replace(/-/g, '')}`.slice(0, 25);
}

export class Messenger {
  /** Tokens Discord already refused, so later edits go straight to the channel. */
  private readonly deadTokens = new Set<string>();

  constructor(
    private readonly rest: REST,
    /** The bot's clock for token age (BOT_CLOCK_OFFSET_MS shifts it in tests). */
    private readonly now: () => number,
  ) {}

  tokenUsable(ref: InteractionRef | undefined): ref is InteractionRef {
    if (!ref || this.deadTokens.has(ref.token)) return false;
    return this.now() - ref.createdAt < TOKEN_LIFETIME_MS - TOKEN_MARGIN_MS;
  }

  async postChannel(channelId: string, p: MessagePayload): Promise<APIMessage> {
    return (await this.rest.post(Routes.channelMessages(channelId), { body: toBody(p, true), files: toFiles(p) })) as APIMessage;
  }

  async editChannel(channelId: string, messageId: string, p: MessagePayload): Promise<APIMessage> {
    return (await this.rest.patch(Routes.channelMessage(channelId, messageId), { body: toBody(p, false), files: toFiles(p) })) as APIMessage;
  }

  async editOriginal(ref: InteractionRef, p: MessagePayload): Promise<APIMessage> {
    try {
      return (await this.rest.patch(Routes.webhookMessage(ref.applicationId, ref.token, '@original'), {
        body: toBody(p, false),
        files: toFiles(p),
        auth: false,
      })) as APIMessage;
    } catch (err) {
      if (isTokenError(err)) this.deadTokens.add(ref.token);
      throw err;
    }
  }

  /** An ephemeral follow-up on a live token (errors only the clicker should see). */
  async followUpEphemeral(ref: InteractionRef, content: string): Promise<void> {
    await this.rest.post(Routes.webhook(ref.applicationId, ref.token), {
      body: { content, flags: 64, allowed_mentions: { parse: [] } },
      auth: false,
    });
  }

  /** A status edit of the job's message (progress, position): the token while it lives, then the channel. */
  async editJobMessage(job: JobRecord, p: MessagePayload): Promise<void> {
    if (this.tokenUsable(job.interaction)) {
      try {
        await this.editOriginal(job.interaction, p);
        return;
      } catch (err) {
        if (!isTokenError(err) || !job.messageId) throw err;
      }
    }
    if (job.messageId) await this.editChannel(job.requester.channelId, job.messageId, p);
  }

  /**
   * The job's last word. 'reply' (an /imagine result) posts a channel message replying to the
   * job's message and pinging the requester, then replaces the stale progress there with
   * `closing`. 'in-place' (button results, failures, cancellations) edits the job's message,
   * through the token while it lives, else the channel; when Discord refuses, it is posted as a
   * reply instead. Returns the id of the message that shows it.
   */
  async deliverFinal(
    job: JobRecord,
    p: MessagePayload,
    opts: { mode: 'reply' | 'in-place'; fallbackReplyTo?: string; closing?: MessagePayload },
  ): Promise<string> {
    if (opts.mode === 'in-place') {
      const edited = await this.tryEditInPlace(job, p);
      if (edited) return edited;
    }
    const user = job.requester.userId;
    const content = p.content ?? '';
    let posted: APIMessage;
    try {
      posted = await this.postChannel(job.requester.channelId, {
        ...p,
        content: content.includes(`<@${user}>`) ? content : `<@${user}> ${content}`.trim(),
        mentionUsers: [user],
        replyTo: job.messageId ?? opts.fallbackReplyTo,
        nonce: finalNonce(job.id),
      });
    } catch (err) {
      // The bot may not post here (no Send Messages) while the interaction token still works.
      // Not after a network error or 5xx: the post may have gone through, and the outbox retries it.
      const refused = err instanceof DiscordAPIError && err.status >= 400 && err.status < 500 && err.status !== 429;
      const edited = opts.mode === 'reply' && refused ? await this.tryEditInPlace(job, p).catch(() => undefined) : undefined;
      if (edited) return edited;
      throw err;
    }
    if (opts.closing) await this.editJobMessage(job, { ...opts.closing, files: [] }).catch(() => undefined);
    return posted.id;
  }

  /** The id of the edited message, or undefined when Discord no longer lets us edit it. */
  private async tryEditInPlace(job: JobRecord, p: MessagePayload): Promise<string | undefined> {
    if (this.tokenUsable(job.interaction)) {
      try {
        return (await this.editOriginal(job.interaction, p)).id;
      } catch (err) {
        if (!isTokenError(err)) throw err;
      }
    }
    if (!job.messageId) return undefined;
    try {
      return (await this.editChannel(job.requester.channelId, job.messageId, p)).id;
    } catch (err) {
      if (isUneditable(err)) return undefined;
      throw err;
    }
  }
}

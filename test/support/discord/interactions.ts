import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { ChangeSignal, WaitOptions } from './change-signal.js';
import { checkModal } from './components.js';
import { ApiErrors, DiscordApiFailure, invalidForm } from './errors.js';
import type { UploadedFile } from './http-body.js';
import { MessageFlags, parseMessageInput } from './message-payload.js';
import type { MessageStore, StoredMessage, ViewMessage } from './messages.js';
import type { SnowflakeGenerator } from './snowflake.js';
import type { Json } from './wire.js';
import type { ChannelRecord, UserRecord, World } from './world.js';
import { parseOrInvalidForm } from './zod-errors.js';

/** Interaction lifecycle: the 3-second acknowledgement, callbacks, and the interaction webhook. */

export const InteractionType = { Ping: 1, ApplicationCommand: 2, MessageComponent: 3, Autocomplete: 4, ModalSubmit: 5 } as const;

export const CallbackType = {
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  DeferredUpdateMessage: 6,
  UpdateMessage: 7,
  AutocompleteResult: 8,
  Modal: 9,
} as const;

const CALLBACK_NAMES: Record<number, string> = {
  1: 'PONG',
  4: 'CHANNEL_MESSAGE_WITH_SOURCE',
  5: 'DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE',
  6: 'DEFERRED_UPDATE_MESSAGE',
  7: 'UPDATE_MESSAGE',
  8: 'APPLICATION_COMMAND_AUTOCOMPLETE_RESULT',
  9: 'MODAL',
  10: 'PREMIUM_REQUIRED',
  12: 'LAUNCH_ACTIVITY',
};

export type InteractionKind = 'command' | 'autocomplete' | 'component' | 'modal';

const ALLOWED_CALLBACKS: Record<InteractionKind, readonly number[]> = {
  command: [4, 5, 9],
  component: [4, 5, 6, 7, 9],
  autocomplete: [8],
  modal: [4, 5, 6, 7],
};

const TOKEN_LIFETIME_MS = 15 * 60 * 1000;

const callbackSchema = z.looseObject({ type: z.number().int(), data: z.unknown().optional() });
const choicesSchema = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        name: z.string().min(1).max(100),
        name_localizations: z.record(z.string(), z.string()).nullish(),
        value: z.union([z.string().max(100), z.number()]),
      }),
    )
    .max(25),
});

export interface AutocompleteChoice {
  name: string;
  value: string | number;
  name_localizations?: Record<string, string> | null;
}

/** One POST to the callback endpoint, accepted or not. */
export interface CallbackRecord {
  type: number;
  typeName: string;
  data: unknown;
  files: { filename: string; contentType: string; size: number }[];
  /** Stand-in clock time of the request. */
  at: number;
  /** Time since the interaction was dispatched. */
  latencyMs: number;
  accepted: boolean;
  error?: { status: number; code: number; message: string };
}

export interface InteractionRecord {
  id: string;
  token: string;
  kind: InteractionKind;
  type: number;
  channel: ChannelRecord;
  user: UserRecord;
  commandName?: string;
  payload: Json;
  createdAt: number;
  attachmentSizeLimit: number;
  componentMessageId?: string;
  initial?: CallbackRecord;
  callbacks: CallbackRecord[];
  originalMessageId?: string;
  /** A type-5 response still shows "thinking": the first follow-up or edit fills it in. */
  thinking: boolean;
  followUpIds: string[];
  choices?: AutocompleteChoice[];
  modal?: Json;
}

export interface InteractionEnv {
  world: World;
  messages: MessageStore;
  ids: SnowflakeGenerator;
  now: () => number;
  signal: ChangeSignal;
  ackTimeoutMs: number;
}

export function newInteractionToken(id: string): string {
  return Buffer.from(`interaction:${id}:${randomBytes(60).toString('base64url')}`).toString('base64url');
}

export class InteractionStore {
  private readonly byId = new Map<string, InteractionRecord>();
  private readonly byToken = new Map<string, InteractionRecord>();

  constructor(private readonly env: InteractionEnv) {}

  add(record: InteractionRecord): InteractionHandle {
    this.byId.set(record.id, record);
    this.byToken.set(record.token, record);
    return new InteractionHandle(record, this.env);
  }

  all(): InteractionRecord[] {
    return [...this.byId.values()];
  }

  handleFor(id: string): InteractionHandle | undefined {
    const record = this.byId.get(id);
    return record && new InteractionHandle(record, this.env);
  }

  // ---- POST /interactions/{id}/{token}/callback ----

  callback(id: string, token: string, body: unknown, files: readonly UploadedFile[], withResponse: boolean): Json | undefined {
    const record = this.byId.get(id);
    if (!record || record.token !== token) throw ApiErrors.unknownInteraction();
    const now = this.env.now();
    const attempt: CallbackRecord = {
      type: typeof (body as Json | undefined)?.type === 'number' ? ((body as Json).type as number) : -1,
      typeName: '',
      data: (body as Json | undefined)?.data,
      files: files.map((f) => ({ filename: f.filename, contentType: f.contentType, size: f.bytes.length })),
      at: now,
      latencyMs: now - record.createdAt,
      accepted: false,
    };
    attempt.typeName = CALLBACK_NAMES[attempt.type] ?? `UNKNOWN_${attempt.type}`;
    record.callbacks.push(attempt);
    try {
      if (record.initial) throw ApiErrors.alreadyAcknowledged();
      if (attempt.latencyMs > this.env.ackTimeoutMs) throw ApiErrors.unknownInteraction();
      const { type, data } = parseOrInvalidForm(callbackSchema, body);
      if (!ALLOWED_CALLBACKS[record.kind].includes(type) || ((type === 6 || type === 7) && !record.componentMessageId)) {
        throw invalidForm([
          { path: ['type'], code: 'INTERACTION_RESPONSE_TYPE_INVALID', message: `Interaction response type ${type} is not valid for this interaction` },
        ]);
      }
      const message = this.applyCallback(record, type, data, files);
      attempt.accepted = true;
      record.initial = attempt;
      if (!withResponse) return undefined;
      return {
        interaction: {
          id: record.id,
          type: record.type,
          activity_instance_id: null,
          ...(message
            ? {
                response_message_id: message.id,
                response_message_loading: (message.state.flags & MessageFlags.Loading) !== 0,
                response_message_ephemeral: message.ephemeral,
              }
            : {}),
        },
        resource: { type, ...(message && type !== 6 ? { message: this.env.messages.toApi(message) } : {}) },
      };
    } catch (error) {
      if (error instanceof DiscordApiFailure) attempt.error = { status: error.status, code: error.body.code, message: error.body.message };
      throw error;
    } finally {
      this.env.signal.notify();
    }
  }

  private applyCallback(record: InteractionRecord, type: number, data: unknown, files: readonly UploadedFile[]): StoredMessage | undefined {
    const { messages } = this.env;
    const dataObj = (data ?? {}) as Json;
    switch (type) {
      case CallbackType.ChannelMessageWithSource:
      case CallbackType.DeferredChannelMessageWithSource: {
        const deferred = type === CallbackType.DeferredChannelMessageWithSource;
        const input = deferred ? { flags: typeof dataObj.flags === 'number' ? dataObj.flags : 0 } : parseMessageInput(data, 'create');
        const message = messages.create({
          channel: record.channel,
          author: this.env.world.bot,
          input: deferred ? {} : input,
          uploads: deferred ? [] : files,
          kind: 'interaction-response',
          type: record.kind === 'command' || record.kind === 'autocomplete' ? 20 : 0,
          ephemeral: ((input.flags ?? 0) & MessageFlags.Ephemeral) !== 0,
          loading: deferred,
          interaction: this.link(record),
          webhookId: this.env.world.applicationId,
          sizeLimit: record.attachmentSizeLimit,
        });
        record.originalMessageId = message.id;
        record.thinking = deferred;
        return message;
      }
      case CallbackType.DeferredUpdateMessage:
        record.originalMessageId = record.componentMessageId;
        return record.componentMessageId ? messages.get(record.componentMessageId) : undefined;
      case CallbackType.UpdateMessage: {
        const target = record.componentMessageId ? messages.get(record.componentMessageId) : undefined;
        if (!target) throw ApiErrors.unknownMessage();
        record.originalMessageId = target.id;
        return messages.edit(target, parseMessageInput(data, 'edit'), files, record.attachmentSizeLimit);
      }
      case CallbackType.AutocompleteResult:
        record.choices = parseOrInvalidForm(choicesSchema, data ?? {}).choices as AutocompleteChoice[];
        return undefined;
      case CallbackType.Modal: {
        const errors = checkModal(data);
        if (errors.length) throw invalidForm(errors);
        record.modal = dataObj;
        return undefined;
      }
      default:
        throw invalidForm([{ path: ['type'], code: 'INTERACTION_RESPONSE_TYPE_INVALID', message: 'Unknown interaction response type' }]);
    }
  }

  private link(record: InteractionRecord) {
    return {
      id: record.id,
      type: record.type,
      userId: record.user.id,
      ...(record.commandName ? { name: record.commandName } : {}),
      ...(record.componentMessageId ? { interactedMessageId: record.componentMessageId } : {}),
    };
  }

  // ---- /webhooks/{application}/{token}/... ----

  /** The interaction behind a webhook token, or Discord's errors for unknown/expired tokens. */
  webhook(applicationId: string, token: string): InteractionRecord {
    const record = this.byToken.get(token);
    if (applicationId !== this.env.world.applicationId || !record || record.kind === 'autocomplete') throw ApiErrors.unknownWebhook();
    if (this.env.now() - record.createdAt > TOKEN_LIFETIME_MS) throw ApiErrors.invalidWebhookToken();
    return record;
  }

  /** The message `ref` ("@original" or an id) names for this interaction. */
  webhookMessage(record: InteractionRecord, ref: string): StoredMessage {
    const id = ref === '@original' ? record.originalMessageId : ref;
    const allowed = id !== undefined && (id === record.originalMessageId || record.followUpIds.includes(id));
    const message = allowed ? this.env.messages.get(id) : undefined;
    if (!message || message.deleted) throw ApiErrors.unknownMessage();
    return message;
  }

  editWebhookMessage(record: InteractionRecord, ref: string, body: unknown, files: readonly UploadedFile[]): StoredMessage {
    const message = this.webhookMessage(record, ref);
    const edited = this.env.messages.edit(message, parseMessageInput(body, 'edit'), files, record.attachmentSizeLimit);
    if (message.id === record.originalMessageId) record.thinking = false;
    return edited;
  }

  deleteWebhookMessage(record: InteractionRecord, ref: string): void {
    this.env.messages.delete(this.webhookMessage(record, ref));
  }

  followUp(record: InteractionRecord, body: unknown, files: readonly UploadedFile[]): StoredMessage {
    if (!record.initial) throw ApiErrors.unknownWebhook();
    const input = parseMessageInput(body, 'create');
    if (record.thinking && record.originalMessageId) {
      // Discord: after a deferred response, the first follow-up replaces the "thinking" message.
      const original = this.env.messages.get(record.originalMessageId);
      if (original && !original.deleted) {
        record.thinking = false;
        return this.env.messages.edit(original, { ...input, messageReference: undefined }, files, record.attachmentSizeLimit);
      }
    }
    const message = this.env.messages.create({
      channel: record.channel,
      author: this.env.world.bot,
      input,
      uploads: files,
      kind: 'follow-up',
      type: 0,
      ephemeral: ((input.flags ?? 0) & MessageFlags.Ephemeral) !== 0,
      interaction: { ...this.link(record), ...(record.originalMessageId ? { originalResponseMessageId: record.originalMessageId } : {}) },
      webhookId: this.env.world.applicationId,
      sizeLimit: record.attachmentSizeLimit,
    });
    record.followUpIds.push(message.id);
    return message;
  }
}

export type InteractionStatus = 'pending' | 'acknowledged' | 'failed';

/**
 * What a test holds after dispatching an interaction: the bot's responses as the invoking user
 * sees them (ephemeral ones included).
 */
export class InteractionHandle {
  constructor(
    private readonly record: InteractionRecord,
    private readonly env: InteractionEnv,
  ) {}

  get id(): string {
    return this.record.id;
  }

  get token(): string {
    return this.record.token;
  }

  get kind(): InteractionKind {
    return this.record.kind;
  }

  /** The raw INTERACTION_CREATE `d` the bot received. */
  get payload(): Json {
    return this.record.payload;
  }

  get channelId(): string {
    return this.record.channel.id;
  }

  get userId(): string {
    return this.record.user.id;
  }

  /** Every callback POST, including rejected second acknowledgements or late ones. */
  get callbacks(): readonly CallbackRecord[] {
    return this.record.callbacks;
  }

  /** The accepted initial response (type 4/5/6/7/8/9), if any. */
  get response(): CallbackRecord | undefined {
    return this.record.initial;
  }

  get acknowledged(): boolean {
    return this.record.initial !== undefined;
  }

  /** Milliseconds from dispatch to the accepted initial response. */
  get ackLatencyMs(): number | undefined {
    return this.record.initial?.latencyMs;
  }

  /** "failed" is Discord's "The application did not respond": no acknowledgement within 3 s. */
  get status(): InteractionStatus {
    if (this.record.initial) return 'acknowledged';
    return this.env.now() - this.record.createdAt > this.env.ackTimeoutMs ? 'failed' : 'pending';
  }

  /** Resolves with the accepted initial response; rejects once the 3-second window has passed. */
  async ack(opts: WaitOptions = {}): Promise<CallbackRecord> {
    const result = await this.env.signal.waitFor(() => this.record.initial ?? (this.status === 'failed' ? ('failed' as const) : undefined), {
      timeoutMs: opts.timeoutMs ?? this.env.ackTimeoutMs + 2000,
      message: opts.message ?? `the acknowledgement of interaction ${this.id}`,
    });
    if (result === 'failed') {
      throw new Error(`interaction ${this.id} was not acknowledged within ${this.env.ackTimeoutMs} ms: the user sees "The application did not respond"`);
    }
    return result;
  }

  /** The original response message (ephemeral included), as the invoking user sees it. */
  original(): ViewMessage | undefined {
    const message = this.record.originalMessageId ? this.env.messages.get(this.record.originalMessageId) : undefined;
    return message && this.env.messages.toView(message);
  }

  followUps(): ViewMessage[] {
    return this.record.followUpIds.flatMap((id) => {
      const message = this.env.messages.get(id);
      return message ? [this.env.messages.toView(message)] : [];
    });
  }

  /** Original response then follow-ups, deleted ones included (check `.deleted`). */
  messages(): ViewMessage[] {
    const original = this.original();
    return [...(original ? [original] : []), ...this.followUps()];
  }

  /** Waits until the original response exists and satisfies `predicate` (default: not "thinking"). */
  waitForOriginal(predicate: (m: ViewMessage) => boolean = (m) => !m.loading, opts: WaitOptions = {}): Promise<ViewMessage> {
    return this.env.signal.waitFor(
      () => {
        const m = this.original();
        return m && predicate(m) ? m : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 5000, message: opts.message ?? `the original response of interaction ${this.id}` },
    );
  }

  /** Waits for a follow-up satisfying `predicate` (default: any). */
  waitForFollowUp(predicate: (m: ViewMessage) => boolean = () => true, opts: WaitOptions = {}): Promise<ViewMessage> {
    return this.env.signal.waitFor(() => this.followUps().find(predicate), {
      timeoutMs: opts.timeoutMs ?? 5000,
      message: opts.message ?? `a follow-up of interaction ${this.id}`,
    });
  }

  /** Autocomplete: the choices the bot returned. */
  async choices(opts: WaitOptions = {}): Promise<AutocompleteChoice[]> {
    await this.ack(opts);
    if (!this.record.choices) throw new Error(`interaction ${this.id} was answered with ${this.record.initial?.typeName}, not autocomplete choices`);
    return this.record.choices;
  }

  /** The modal the bot opened (callback type 9). */
  async modal(opts: WaitOptions = {}): Promise<Json> {
    await this.ack(opts);
    if (!this.record.modal) throw new Error(`interaction ${this.id} was answered with ${this.record.initial?.typeName}, not a modal`);
    return this.record.modal;
  }

  /** @internal used by the stand-in to open modals' submit interactions. */
  get internalRecord(): InteractionRecord {
    return this.record;
  }
}

import { BUTTON_STYLES, ComponentType, walkComponents } from './components.js';
import { ApiErrors, invalidForm, type FieldError } from './errors.js';
import type { UploadedFile } from './http-body.js';
import { contentTypeFor, sniffImage } from './media.js';
import { assertNotEmpty, MessageFlags, type AllowedMentions, type AttachmentRef, type Embed, type MessageInput } from './message-payload.js';
import type { SnowflakeGenerator } from './snowflake.js';
import { userJson, type Json } from './wire.js';
import type { ChannelRecord, UserRecord, World } from './world.js';

/** Every message the stand-in knows, with its edit history, and the "what a user sees" view of it. */

export interface StoredAttachment {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  bytes: Buffer;
  url: string;
  width?: number;
  height?: number;
  description?: string;
  title?: string;
  ephemeral: boolean;
}

interface MessageState {
  content: string;
  embeds: Embed[];
  components: Json[];
  attachments: StoredAttachment[];
  flags: number;
  tts: boolean;
  poll?: Json;
  stickerIds: string[];
  allowedMentions?: AllowedMentions;
  /** Stand-in clock time this version appeared. */
  at: number;
}

export type MessageKind = 'interaction-response' | 'follow-up' | 'channel' | 'user';

export interface InteractionLink {
  id: string;
  type: number;
  userId: string;
  /** The command name for application commands. */
  name?: string;
  /** For component interactions: the message whose component was used. */
  interactedMessageId?: string;
  /** For follow-ups: the interaction's original response. */
  originalResponseMessageId?: string;
}

export interface StoredMessage {
  id: string;
  channel: ChannelRecord;
  author: UserRecord;
  createdAt: number;
  editedAt: number | null;
  type: number;
  kind: MessageKind;
  ephemeral: boolean;
  deleted: boolean;
  reference?: { messageId: string; channelId: string; guildId: string; type: number };
  interaction?: InteractionLink;
  webhookId?: string;
  state: MessageState;
  history: MessageState[];
  reactions: Map<string, Set<string>>;
}

// ---- the view tests assert on ----

export interface ViewAttachment {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  bytes: Buffer;
  url: string;
  width?: number;
  height?: number;
  description?: string;
}

export interface ViewButton {
  customId?: string;
  label?: string;
  emoji?: { id?: string | null; name?: string | null; animated?: boolean };
  style: number;
  styleName: (typeof BUTTON_STYLES)[number];
  url?: string;
  disabled: boolean;
}

export interface ViewSelect {
  customId: string;
  type: number;
  placeholder?: string;
  options: { label: string; value: string; description?: string; default?: boolean }[];
  minValues: number;
  maxValues: number;
  disabled: boolean;
}

export interface ViewMentions {
  /** Users that get pinged (after allowed_mentions). */
  users: string[];
  roles: string[];
  everyone: boolean;
  /** Whether the author of the replied-to message is pinged. */
  repliedUser: boolean;
}

/** One version of a message's visible content. */
export interface ViewMessageVersion {
  content: string;
  embeds: Embed[];
  /** Raw components as sent (action rows, or Components V2 trees). */
  components: Json[];
  /** Every button anywhere in `components`, in order. */
  buttons: ViewButton[];
  selects: ViewSelect[];
  /** Text of Components V2 text displays, in order. */
  texts: string[];
  attachments: ViewAttachment[];
  flags: number;
  /** True while a deferred response shows "<bot> is thinking…". */
  loading: boolean;
  mentions: ViewMentions;
  /** Stand-in clock time this version appeared. */
  at: number;
}

export interface ViewMessage extends ViewMessageVersion {
  id: string;
  channelId: string;
  guildId: string;
  author: { id: string; username: string; bot: boolean };
  kind: MessageKind;
  ephemeral: boolean;
  deleted: boolean;
  createdAt: number;
  editedAt: number | null;
  reference?: { messageId: string; channelId: string; guildId: string };
  interaction?: InteractionLink;
  reactions: { emoji: string; count: number; me: boolean }[];
  /** All versions, oldest first; the last one is the current content. */
  history: ViewMessageVersion[];
  /** Number of edits after creation. */
  edits: number;
}

export interface CreateMessageArgs {
  channel: ChannelRecord;
  author: UserRecord;
  input: MessageInput;
  uploads: readonly UploadedFile[];
  kind: MessageKind;
  type: number;
  ephemeral: boolean;
  loading?: boolean;
  interaction?: InteractionLink;
  webhookId?: string;
  sizeLimit: number;
}

export type MessageEvent = 'create' | 'update' | 'delete';

const HOUR_MS = 60 * 60 * 1000;

export class MessageStore {
  private readonly byId = new Map<string, StoredMessage>();
  private readonly attachments = new Map<string, StoredAttachment>();

  constructor(
    private readonly world: World,
    private readonly ids: SnowflakeGenerator,
    private readonly now: () => number,
    private readonly baseUrl: () => string,
    private readonly notify: (event: MessageEvent, message: StoredMessage) => void,
  ) {}

  get(id: string): StoredMessage | undefined {
    return this.byId.get(id);
  }

  attachment(id: string): StoredAttachment | undefined {
    return this.attachments.get(id);
  }

  all(): StoredMessage[] {
    return [...this.byId.values()];
  }

  inChannel(channelId: string, opts: { visibleTo?: string; includeDeleted?: boolean } = {}): StoredMessage[] {
    return this.all().filter(
      (m) =>
        m.channel.id === channelId &&
        (opts.includeDeleted || !m.deleted) &&
        (!m.ephemeral || (opts.visibleTo !== undefined && m.interaction?.userId === opts.visibleTo)),
    );
  }

  /** Stores an uploaded file, e.g. one a user attaches to a slash command. */
  storeAttachment(
    channelId: string,
    file: { filename: string; bytes: Buffer; contentType?: string; description?: string },
    ephemeral: boolean,
  ): StoredAttachment {
    const id = this.ids.next();
    const image = sniffImage(file.bytes);
    const attachment: StoredAttachment = {
      id,
      filename: file.filename,
      contentType: contentTypeFor(file.filename, file.contentType, file.bytes),
      size: file.bytes.length,
      bytes: file.bytes,
      url: `${this.baseUrl()}/attachments/${channelId}/${id}/${encodeURIComponent(file.filename)}`,
      ...(image ? { width: image.width, height: image.height } : {}),
      ...(file.description !== undefined ? { description: file.description } : {}),
      ephemeral,
    };
    this.attachments.set(id, attachment);
    return attachment;
  }

  create(args: CreateMessageArgs): StoredMessage {
    const { input } = args;
    const attachments = this.resolveAttachments([], input.attachments, args.uploads, args.channel.id, args.sizeLimit, args.ephemeral);
    let flags = (input.flags ?? 0) & ~MessageFlags.Ephemeral;
    if (args.ephemeral) flags |= MessageFlags.Ephemeral;
    if (args.loading) flags |= MessageFlags.Loading;
    const state: MessageState = {
      content: input.content ?? '',
      embeds: input.embeds ?? [],
      components: input.components ?? [],
      attachments,
      flags,
      tts: input.tts ?? false,
      ...(input.poll ? { poll: input.poll } : {}),
      stickerIds: input.stickerIds ?? [],
      ...(input.allowedMentions ? { allowedMentions: input.allowedMentions } : {}),
      at: this.now(),
    };
    if (!args.loading) assertNotEmpty(state);
    const reference = input.messageReference ? this.resolveReference(args.channel, input.messageReference) : undefined;
    const message: StoredMessage = {
      id: this.ids.next(),
      channel: args.channel,
      author: args.author,
      createdAt: state.at,
      editedAt: null,
      type: reference && args.type === 0 ? 19 : args.type,
      kind: args.kind,
      ephemeral: args.ephemeral,
      deleted: false,
      ...(reference ? { reference } : {}),
      ...(args.interaction ? { interaction: args.interaction } : {}),
      ...(args.webhookId ? { webhookId: args.webhookId } : {}),
      state,
      history: [state],
      reactions: new Map(),
    };
    this.byId.set(message.id, message);
    this.notify('create', message);
    return message;
  }

  edit(message: StoredMessage, input: MessageInput, uploads: readonly UploadedFile[], sizeLimit: number): StoredMessage {
    if (message.deleted) throw ApiErrors.unknownMessage();
    const prev = message.state;
    let flags = prev.flags & ~MessageFlags.Loading;
    if (input.flags !== undefined && input.flags !== null) {
      // Only embed suppression can be toggled; ephemerality and Components V2 stick.
      flags = (flags & ~MessageFlags.SuppressEmbeds) | (input.flags & MessageFlags.SuppressEmbeds);
      flags |= input.flags & MessageFlags.IsComponentsV2;
    }
    const allowedMentions = input.allowedMentions ?? prev.allowedMentions;
    const next: MessageState = {
      content: input.content === undefined ? prev.content : (input.content ?? ''),
      embeds: input.embeds === undefined ? prev.embeds : (input.embeds ?? []),
      components: input.components === undefined ? prev.components : (input.components ?? []),
      attachments: this.resolveAttachments(prev.attachments, input.attachments, uploads, message.channel.id, sizeLimit, message.ephemeral),
      flags,
      tts: prev.tts,
      ...(prev.poll ? { poll: prev.poll } : {}),
      stickerIds: prev.stickerIds,
      ...(allowedMentions ? { allowedMentions } : {}),
      at: this.now(),
    };
    assertNotEmpty(next);
    message.state = next;
    message.history.push(next);
    message.editedAt = next.at;
    this.notify('update', message);
    return message;
  }

  /** Discord throttles edits of messages older than an hour; the stand-in refuses them outright. */
  assertEditable(message: StoredMessage): void {
    if (this.now() - message.createdAt > HOUR_MS) throw ApiErrors.oldMessageEdits();
  }

  delete(message: StoredMessage): void {
    if (message.deleted) throw ApiErrors.unknownMessage();
    message.deleted = true;
    this.notify('delete', message);
  }

  react(message: StoredMessage, emoji: string, userId: string, add: boolean): void {
    const users = message.reactions.get(emoji) ?? new Set<string>();
    if (add) users.add(userId);
    else users.delete(userId);
    if (users.size) message.reactions.set(emoji, users);
    else message.reactions.delete(emoji);
    this.notify('update', message);
  }

  private resolveReference(channel: ChannelRecord, ref: NonNullable<MessageInput['messageReference']>) {
    const target = this.byId.get(ref.message_id);
    const channelId = ref.channel_id ?? channel.id;
    const valid = target && !target.deleted && !target.ephemeral && target.channel.id === channelId;
    if (!valid) {
      if (ref.fail_if_not_exists === false) return undefined;
      throw invalidForm([{ path: ['message_reference'], code: 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', message: 'Unknown message' }]);
    }
    return { messageId: target.id, channelId, guildId: target.channel.guildId, type: ref.type ?? 0 };
  }

  /**
   * Discord's attachment rules: uploads are files[n]; an `attachments` array lists what the
   * message keeps (existing ids) plus metadata for uploads (id = n). Unlisted uploads are
   * appended; without an `attachments` array an edit keeps what the message had.
   */
  private resolveAttachments(
    existing: readonly StoredAttachment[],
    refs: readonly AttachmentRef[] | null | undefined,
    uploads: readonly UploadedFile[],
    channelId: string,
    sizeLimit: number,
    ephemeral: boolean,
  ): StoredAttachment[] {
    if (uploads.some((u) => u.bytes.length > sizeLimit)) throw ApiErrors.entityTooLarge();
    const byIndex = new Map<number, UploadedFile>();
    uploads.forEach((u, i) => byIndex.set(u.index ?? i, u));
    const used = new Set<UploadedFile>();
    const result: StoredAttachment[] = [];
    const errors: FieldError[] = [];
    const upload = (file: UploadedFile, ref?: AttachmentRef) => {
      used.add(file);
      result.push(
        this.storeAttachment(
          channelId,
          {
            filename: ref?.filename ?? file.filename,
            bytes: file.bytes,
            contentType: file.contentType,
            ...(typeof ref?.description === 'string' ? { description: ref.description } : {}),
          },
          ephemeral,
        ),
      );
    };
    if (refs === undefined) {
      result.push(...existing);
    } else {
      (refs ?? []).forEach((ref, i) => {
        const id = String(ref.id);
        const file = /^\d{1,4}$/.test(id) ? byIndex.get(Number(id)) : undefined;
        const kept = existing.find((a) => a.id === id);
        if (file && !used.has(file)) upload(file, ref);
        else if (kept) result.push(kept);
        else errors.push({ path: ['attachments', i, 'id'], code: 'ATTACHMENT_NOT_FOUND', message: `Unknown attachment ${id}` });
      });
    }
    for (const file of uploads) if (!used.has(file)) upload(file);
    if (result.length > 10) errors.push({ path: ['attachments'], code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 10 or fewer in length.' });
    if (errors.length) throw invalidForm(errors);
    return result;
  }

  // ---- wire format ----

  toApi(m: StoredMessage): Json {
    const s = m.state;
    const mentions = this.mentionsOf(m, s);
    const referenced = m.reference ? this.byId.get(m.reference.messageId) : undefined;
    const guildId = m.channel.guildId;
    return {
      id: m.id,
      type: m.type,
      channel_id: m.channel.id,
      author: userJson(m.author),
      content: s.content,
      timestamp: new Date(m.createdAt).toISOString(),
      edited_timestamp: m.editedAt === null ? null : new Date(m.editedAt).toISOString(),
      tts: s.tts,
      mention_everyone: mentions.everyone,
      mentions: mentions.users.flatMap((id) => {
        const user = this.world.findUser(id);
        return user ? [userJson(user)] : [];
      }),
      mention_roles: mentions.roles,
      attachments: s.attachments.map(attachmentJson),
      embeds: s.embeds.map((e) => this.embedJson(e, s.attachments)),
      ...(m.reactions.size
        ? {
            reactions: [...m.reactions].map(([emoji, users]) => ({
              emoji: { id: null, name: emoji },
              count: users.size,
              count_details: { burst: 0, normal: users.size },
              me: users.has(this.world.bot.id),
              me_burst: false,
              burst_colors: [],
              burst_count: 0,
            })),
          }
        : {}),
      pinned: false,
      flags: s.flags,
      components: s.components,
      ...(s.poll ? { poll: s.poll } : {}),
      ...(m.webhookId ? { webhook_id: m.webhookId, application_id: m.webhookId } : {}),
      ...(m.reference
        ? {
            message_reference: {
              type: m.reference.type,
              message_id: m.reference.messageId,
              channel_id: m.reference.channelId,
              guild_id: m.reference.guildId,
            },
            referenced_message: referenced && !referenced.deleted ? this.toApi({ ...referenced, reference: undefined }) : null,
          }
        : {}),
      ...(m.interaction ? this.interactionJson(m.interaction, guildId) : {}),
      position: 0,
    };
  }

  private interactionJson(link: InteractionLink, guildId: string): Json {
    const user = this.world.findUser(link.userId);
    const userObj = user ? userJson(user) : { id: link.userId };
    return {
      interaction_metadata: {
        id: link.id,
        type: link.type,
        user: userObj,
        authorizing_integration_owners: { '0': guildId },
        ...(link.name ? { name: link.name, command_type: 1 } : {}),
        ...(link.interactedMessageId ? { interacted_message_id: link.interactedMessageId } : {}),
        ...(link.originalResponseMessageId ? { original_response_message_id: link.originalResponseMessageId } : {}),
      },
      ...(link.name ? { interaction: { id: link.id, type: link.type, name: link.name, user: userObj } } : {}),
    };
  }

  private embedJson(embed: Embed, attachments: readonly StoredAttachment[]): Json {
    const media = (m: Embed['image']) => {
      if (!m) return undefined;
      const name = m.url.startsWith('attachment://') ? m.url.slice('attachment://'.length) : undefined;
      const a = name === undefined ? undefined : attachments.find((x) => x.filename === name);
      return a ? { ...m, proxy_url: a.url, width: a.width, height: a.height, content_type: a.contentType } : m;
    };
    return {
      type: 'rich',
      ...embed,
      ...(embed.image ? { image: media(embed.image) } : {}),
      ...(embed.thumbnail ? { thumbnail: media(embed.thumbnail) } : {}),
    };
  }

  private mentionsOf(m: StoredMessage, s: MessageState): ViewMentions {
    const users = [...s.content.matchAll(/<@!?(\d+)>/g)].map((x) => x[1]);
    const roles = [...s.content.matchAll(/<@&(\d+)>/g)].map((x) => x[1]);
    const everyone = /@(everyone|here)\b/.test(s.content);
    const allowed = s.allowedMentions;
    const parse = allowed?.parse;
    const referenced = m.reference ? this.byId.get(m.reference.messageId) : undefined;
    const repliedUser = referenced !== undefined && (allowed === undefined ? true : (allowed.replied_user ?? false));
    const pickedUsers = allowed === undefined || parse?.includes('users') ? users : users.filter((u) => allowed.users?.includes(u));
    const pickedRoles = allowed === undefined || parse?.includes('roles') ? roles : roles.filter((r) => allowed.roles?.includes(r));
    const finalUsers = [...new Set([...pickedUsers, ...(repliedUser && referenced ? [referenced.author.id] : [])])];
    return {
      users: finalUsers,
      roles: [...new Set(pickedRoles)],
      everyone: everyone && (allowed === undefined || (parse?.includes('everyone') ?? false)),
      repliedUser,
    };
  }

  // ---- the view ----

  toView(m: StoredMessage): ViewMessage {
    const history = m.history.map((s) => this.versionView(m, s));
    const current = history[history.length - 1];
    return {
      ...current,
      id: m.id,
      channelId: m.channel.id,
      guildId: m.channel.guildId,
      author: { id: m.author.id, username: m.author.username, bot: m.author.bot },
      kind: m.kind,
      ephemeral: m.ephemeral,
      deleted: m.deleted,
      createdAt: m.createdAt,
      editedAt: m.editedAt,
      ...(m.reference ? { reference: { messageId: m.reference.messageId, channelId: m.reference.channelId, guildId: m.reference.guildId } } : {}),
      ...(m.interaction ? { interaction: { ...m.interaction } } : {}),
      reactions: [...m.reactions].map(([emoji, users]) => ({ emoji, count: users.size, me: users.has(this.world.bot.id) })),
      history,
      edits: history.length - 1,
    };
  }

  private versionView(m: StoredMessage, s: MessageState): ViewMessageVersion {
    const buttons: ViewButton[] = [];
    const selects: ViewSelect[] = [];
    const texts: string[] = [];
    walkComponents(s.components, (c) => {
      const type = Number(c.type);
      if (type === ComponentType.Button) {
        const style = Number(c.style);
        buttons.push({
          ...(typeof c.custom_id === 'string' ? { customId: c.custom_id } : {}),
          ...(typeof c.label === 'string' ? { label: c.label } : {}),
          ...(c.emoji && typeof c.emoji === 'object' ? { emoji: c.emoji as ViewButton['emoji'] } : {}),
          style,
          styleName: BUTTON_STYLES[style] ?? '',
          ...(typeof c.url === 'string' ? { url: c.url } : {}),
          disabled: c.disabled === true,
        });
      } else if ([3, 5, 6, 7, 8].includes(type)) {
        selects.push({
          customId: String(c.custom_id),
          type,
          ...(typeof c.placeholder === 'string' ? { placeholder: c.placeholder } : {}),
          options: Array.isArray(c.options) ? (c.options as ViewSelect['options']) : [],
          minValues: c.min_values === undefined ? 1 : Number(c.min_values),
          maxValues: c.max_values === undefined ? 1 : Number(c.max_values),
          disabled: c.disabled === true,
        });
      } else if (type === ComponentType.TextDisplay && typeof c.content === 'string') {
        texts.push(c.content);
      }
    });
    return {
      content: s.content,
      embeds: s.embeds,
      components: s.components,
      buttons,
      selects,
      texts,
      attachments: s.attachments.map((a) => ({
        id: a.id,
        filename: a.filename,
        contentType: a.contentType,
        size: a.size,
        bytes: a.bytes,
        url: a.url,
        ...(a.width !== undefined ? { width: a.width, height: a.height } : {}),
        ...(a.description !== undefined ? { description: a.description } : {}),
      })),
      flags: s.flags,
      loading: (s.flags & MessageFlags.Loading) !== 0,
      mentions: this.mentionsOf(m, s),
      at: s.at,
    };
  }
}

export function attachmentJson(a: StoredAttachment): Json {
  return {
    id: a.id,
    filename: a.filename,
    size: a.size,
    url: a.url,
    proxy_url: a.url,
    content_type: a.contentType,
    ...(a.width !== undefined ? { width: a.width, height: a.height } : {}),
    ...(a.description !== undefined ? { description: a.description } : {}),
    ...(a.title !== undefined ? { title: a.title } : {}),
    ...(a.ephemeral ? { ephemeral: true } : {}),
  };
}

import { z } from 'zod';
import { checkMessageComponents } from './components.js';
import { ApiErrors, invalidForm, type FieldError } from './errors.js';
import type { Json } from './wire.js';
import { fieldErrorsOf } from './zod-errors.js';

/** Validation of message bodies (create, edit, interaction responses, webhooks) as Discord does it. */

export const MessageFlags = {
  SuppressEmbeds: 1 << 2,
  Ephemeral: 1 << 6,
  Loading: 1 << 7,
  SuppressNotifications: 1 << 12,
  IsVoiceMessage: 1 << 13,
  IsComponentsV2: 1 << 15,
} as const;

const SETTABLE_FLAGS =
  MessageFlags.SuppressEmbeds | MessageFlags.Ephemeral | MessageFlags.SuppressNotifications | MessageFlags.IsVoiceMessage | MessageFlags.IsComponentsV2;

const codePoints = (max: number) => z.string().refine((s) => [...s].length <= max, { message: `Must be ${max} or fewer in length.`, params: { max } });

const url = z.string().max(2048);
const embedMedia = z.looseObject({ url, width: z.number().optional(), height: z.number().optional() });
const embedSchema = z.looseObject({
  title: z.string().max(256).optional(),
  type: z.string().optional(),
  description: z.string().max(4096).optional(),
  url: url.optional(),
  timestamp: z.iso.datetime({ offset: true }).optional(),
  color: z.number().int().min(0).max(0xffffff).nullish(),
  footer: z.looseObject({ text: z.string().min(1).max(2048), icon_url: url.optional() }).optional(),
  image: embedMedia.optional(),
  thumbnail: embedMedia.optional(),
  author: z.looseObject({ name: z.string().min(1).max(256), url: url.optional(), icon_url: url.optional() }).optional(),
  fields: z
    .array(z.looseObject({ name: z.string().min(1).max(256), value: z.string().min(1).max(1024), inline: z.boolean().optional() }))
    .max(25)
    .optional(),
});

const allowedMentionsSchema = z.looseObject({
  parse: z.array(z.enum(['roles', 'users', 'everyone'])).optional(),
  roles: z.array(z.string()).max(100).optional(),
  users: z.array(z.string()).max(100).optional(),
  replied_user: z.boolean().optional(),
});

const attachmentRefSchema = z.looseObject({
  id: z.union([z.string(), z.number().int()]),
  filename: z.string().max(1024).nullish(),
  description: z.string().max(1024).nullish(),
  title: z.string().nullish(),
});

const messageReferenceSchema = z.looseObject({
  type: z.union([z.literal(0), z.literal(1)]).optional(),
  message_id: z.string(),
  channel_id: z.string().optional(),
  guild_id: z.string().optional(),
  fail_if_not_exists: z.boolean().optional(),
});

const messageBodySchema = z.looseObject({
  content: codePoints(2000).nullish(),
  tts: z.boolean().nullish(),
  embeds: z.array(embedSchema).max(10).nullish(),
  allowed_mentions: allowedMentionsSchema.nullish(),
  message_reference: messageReferenceSchema.nullish(),
  components: z.array(z.unknown()).nullish(),
  sticker_ids: z.array(z.string()).max(3).nullish(),
  attachments: z.array(attachmentRefSchema).max(10).nullish(),
  flags: z.number().int().min(0).nullish(),
  poll: z.looseObject({}).nullish(),
  nonce: z.union([z.string().max(25), z.number().int()]).nullish(),
  enforce_nonce: z.boolean().nullish(),
  // Webhook executions may also set these; the stand-in only records them.
  username: z.string().max(80).nullish(),
  avatar_url: z.string().nullish(),
  thread_name: z.string().nullish(),
});

export type Embed = z.output<typeof embedSchema>;
export type AllowedMentions = z.output<typeof allowedMentionsSchema>;
export type AttachmentRef = z.output<typeof attachmentRefSchema>;
export type MessageReferenceInput = z.output<typeof messageReferenceSchema>;

/** A validated body; `undefined` fields were absent (edits leave them unchanged), `null` clears. */
export interface MessageInput {
  content?: string | null;
  tts?: boolean;
  embeds?: Embed[] | null;
  allowedMentions?: AllowedMentions | null;
  messageReference?: MessageReferenceInput | null;
  components?: Json[] | null;
  attachments?: AttachmentRef[] | null;
  flags?: number | null;
  poll?: Json | null;
  stickerIds?: string[];
}

export function embedTextLength(embeds: readonly Embed[]): number {
  let total = 0;
  const add = (s: unknown) => {
    if (typeof s === 'string') total += [...s].length;
  };
  for (const e of embeds) {
    add(e.title);
    add(e.description);
    add(e.footer?.text);
    add(e.author?.name);
    for (const f of e.fields ?? []) {
      add(f.name);
      add(f.value);
    }
  }
  return total;
}

/**
 * Parses a message body. `mode` "create" also rejects empty messages once uploads are known,
 * which the caller checks with `assertNotEmpty`.
 */
export function parseMessageInput(json: unknown, mode: 'create' | 'edit'): MessageInput {
  const data = json ?? {};
  const result = messageBodySchema.safeParse(data);
  if (!result.success) throw invalidForm(fieldErrorsOf(result.error, data));
  const body = result.data;
  const errors: FieldError[] = [];
  const flags = body.flags ?? undefined;
  const v2 = flags !== undefined && (flags & MessageFlags.IsComponentsV2) !== 0;
  if (body.embeds && embedTextLength(body.embeds) > 6000) {
    errors.push({ path: ['embeds'], code: 'MAX_EMBED_SIZE_EXCEEDED', message: 'Embed size exceeds maximum size of 6000' });
  }
  if (body.components) errors.push(...checkMessageComponents(body.components, v2));
  if (v2) {
    for (const legacy of ['content', 'embeds', 'poll', 'sticker_ids'] as const) {
      const value = body[legacy];
      if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0) && value !== '') {
        errors.push({
          path: [legacy],
          code: 'MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2',
          message: "The 'content', 'embeds', 'sticker_ids', and 'poll' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        });
      }
    }
  }
  const mentions = body.allowed_mentions;
  if (mentions?.parse?.includes('users') && mentions.users?.length) {
    errors.push({
      path: ['allowed_mentions'],
      code: 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
      message: 'parse:["users"] and users: [ids] are mutually exclusive.',
    });
  }
  if (mentions?.parse?.includes('roles') && mentions.roles?.length) {
    errors.push({
      path: ['allowed_mentions'],
      code: 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
      message: 'parse:["roles"] and roles: [ids] are mutually exclusive.',
    });
  }
  if (mode === 'edit' && body.message_reference) {
    errors.push({ path: ['message_reference'], code: 'BASE_TYPE_INVALID', message: 'A message reference cannot be added by editing.' });
  }
  if (errors.length) throw invalidForm(errors);
  return {
    content: body.content,
    tts: body.tts ?? undefined,
    embeds: body.embeds,
    allowedMentions: body.allowed_mentions,
    messageReference: body.message_reference,
    components: body.components as Json[] | null | undefined,
    attachments: body.attachments,
    flags: flags === undefined ? body.flags : flags & SETTABLE_FLAGS,
    poll: body.poll,
    stickerIds: body.sticker_ids ?? undefined,
  };
}

/** Discord refuses messages that would show nothing. */
export function assertNotEmpty(m: {
  content: string;
  embeds: readonly unknown[];
  attachments: readonly unknown[];
  components: readonly unknown[];
  poll?: unknown;
  stickerIds?: readonly string[];
}): void {
  if (m.content === '' && m.embeds.length === 0 && m.attachments.length === 0 && m.components.length === 0 && !m.poll && !m.stickerIds?.length) {
    throw ApiErrors.emptyMessage();
  }
}

import { z } from 'zod';
import { PERMISSIONS, type PermissionName } from './permissions.js';

/** Options a test passes to startDiscordStandIn; validated so typos fail loudly. */
const snowflake = z.string().regex(/^\d{15,21}$/, 'must be a snowflake (15–21 digits)');
const permissionInput = z.union([
  z.bigint(),
  z.string().regex(/^\d+$/, 'must be a decimal permission string'),
  z.array(z.enum(Object.keys(PERMISSIONS) as [PermissionName, ...PermissionName[]])),
]);

const channelTypeNames = { text: 0, voice: 2, category: 4, announcement: 5, forum: 15 } as const;

const overwriteOptions = z
  .strictObject({
    /** A role id or name ("@everyone" for the guild's everyone role). */
    role: z.string().optional(),
    /** A user id or username. */
    user: z.string().optional(),
    allow: permissionInput.optional(),
    deny: permissionInput.optional(),
  })
  .refine((o) => (o.role === undefined) !== (o.user === undefined), 'give exactly one of role or user');

const channelOptions = z.strictObject({
  id: snowflake.optional(),
  name: z.string().min(1).max(100),
  type: z.union([z.enum(Object.keys(channelTypeNames) as [keyof typeof channelTypeNames]), z.number().int()]).optional(),
  nsfw: z.boolean().optional(),
  topic: z.string().max(1024).optional(),
  permissionOverwrites: z.array(overwriteOptions).optional(),
});

const roleOptions = z.strictObject({
  id: snowflake.optional(),
  name: z.string().min(1).max(100),
  permissions: permissionInput.optional(),
  color: z.number().int().min(0).max(0xffffff).optional(),
});

const memberOptions = z.strictObject({
  id: snowflake.optional(),
  username: z.string().regex(/^[a-z0-9_.]{2,32}$/, 'Discord usernames are 2–32 chars of a-z 0-9 _ .'),
  globalName: z.string().min(1).max(32).optional(),
  nick: z.string().min(1).max(32).optional(),
  /** Role names or ids. */
  roles: z.array(z.string()).optional(),
  /** Shorthand: gives the member a personal role with these permissions. */
  permissions: permissionInput.optional(),
});

const guildOptions = z.strictObject({
  id: snowflake.optional(),
  name: z.string().min(2).max(100),
  /** Username of the owner (added as a member if not listed); defaults to a user named "owner". */
  owner: z.string().optional(),
  preferredLocale: z.string().optional(),
  /** Upload limit in bytes for this guild (boosts raise it on Discord). */
  attachmentSizeLimit: z.number().int().positive().optional(),
  everyonePermissions: permissionInput.optional(),
  /** The bot's managed role. */
  botPermissions: permissionInput.optional(),
  roles: z.array(roleOptions).optional(),
  channels: z.array(channelOptions).optional(),
  members: z.array(memberOptions).optional(),
});

const numberFn = z.custom<() => number>((v) => typeof v === 'function', 'must be a function returning a number');

export const standInOptionsSchema = z.strictObject({
  token: z.string().min(1).optional(),
  applicationId: snowflake.optional(),
  botUsername: z.string().min(2).max(32).optional(),
  /** ApplicationFlags bits reported in READY and /applications/@me. */
  applicationFlags: z.number().int().min(0).optional(),
  /** Privileged intents enabled "in the developer portal"; others get close code 4014. */
  privilegedIntents: z.array(z.enum(['GuildMembers', 'GuildPresences', 'MessageContent'])).optional(),
  guilds: z.array(guildOptions).min(1).optional(),
  /** Default upload limit in bytes for guilds that don't set one (Discord: 10 MiB). */
  attachmentSizeLimit: z.number().int().positive().optional(),
  /** Chance (0–1) that any API request gets one injected 429 before it succeeds. */
  rateLimitProbability: z.number().min(0).max(1).optional(),
  /** Per-route bucket size; enforced with real 429s when exceeded. */
  rateLimit: z.strictObject({ limit: z.number().int().positive(), windowMs: z.number().int().positive() }).partial().optional(),
  /** retry_after of injected 429s. */
  retryAfterMs: z.number().int().min(0).optional(),
  heartbeatIntervalMs: z.number().int().positive().optional(),
  /** What GET /gateway/bot recommends (`shards`); bots may identify with any count (1 by default). */
  shards: z.number().int().min(1).max(1024).optional(),
  /** How long a bot has to acknowledge an interaction (Discord: 3 s). */
  interactionAckTimeoutMs: z.number().int().positive().optional(),
  now: numberFn.optional(),
  random: numberFn.optional(),
  /** Receives one line per handled request/gateway event, for debugging. */
  log: z.custom<(line: string) => void>((v) => typeof v === 'function').optional(),
});

export type DiscordStandInOptions = z.input<typeof standInOptionsSchema>;
export type GuildOptions = z.input<typeof guildOptions>;
export type ChannelOptions = z.input<typeof channelOptions>;
export type MemberOptions = z.input<typeof memberOptions>;
export type RoleOptions = z.input<typeof roleOptions>;
export type ParsedStandInOptions = z.output<typeof standInOptionsSchema>;
export type ParsedGuildOptions = z.output<typeof guildOptions>;

export function channelTypeOf(type: ChannelOptions['type']): number {
  if (type === undefined) return 0;
  return typeof type === 'number' ? type : channelTypeNames[type];
}

export function parseStandInOptions(input: unknown): ParsedStandInOptions {
  const result = standInOptionsSchema.safeParse(input ?? {});
  if (!result.success) {
    throw new TypeError(`Invalid Discord stand-in options:\n${z.prettifyError(result.error)}`);
  }
  return result.data;
}

export const DEFAULT_GUILDS: GuildOptions[] = [
  {
    name: 'Stand-in Guild',
    channels: [{ name: 'general' }, { name: 'nsfw-art', nsfw: true }],
    roles: [{ name: 'Moderator', permissions: ['ManageGuild', 'ManageMessages'] }],
    members: [
      { username: 'alice', globalName: 'Alice' },
      { username: 'mod', globalName: 'Mod', roles: ['Moderator'] },
    ],
  },
];

/** Discord permission bits (names as discord.js' PermissionFlagsBits spells them). */
export const PERMISSIONS = {
  CreateInstantInvite: 1n << 0n,
  KickMembers: 1n << 1n,
  BanMembers: 1n << 2n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  ManageGuild: 1n << 5n,
  AddReactions: 1n << 6n,
  ViewAuditLog: 1n << 7n,
  PrioritySpeaker: 1n << 8n,
  Stream: 1n << 9n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  SendTTSMessages: 1n << 12n,
  ManageMessages: 1n << 13n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  MentionEveryone: 1n << 17n,
  UseExternalEmojis: 1n << 18n,
  ViewGuildInsights: 1n << 19n,
  Connect: 1n << 20n,
  Speak: 1n << 21n,
  MuteMembers: 1n << 22n,
  DeafenMembers: 1n << 23n,
  MoveMembers: 1n << 24n,
  UseVAD: 1n << 25n,
  ChangeNickname: 1n << 26n,
  ManageNicknames: 1n << 27n,
  ManageRoles: 1n << 28n,
  ManageWebhooks: 1n << 29n,
  ManageGuildExpressions: 1n << 30n,
  UseApplicationCommands: 1n << 31n,
  RequestToSpeak: 1n << 32n,
  ManageEvents: 1n << 33n,
  ManageThreads: 1n << 34n,
  CreatePublicThreads: 1n << 35n,
  CreatePrivateThreads: 1n << 36n,
  UseExternalStickers: 1n << 37n,
  SendMessagesInThreads: 1n << 38n,
  UseEmbeddedActivities: 1n << 39n,
  ModerateMembers: 1n << 40n,
  ViewCreatorMonetizationAnalytics: 1n << 41n,
  UseSoundboard: 1n << 42n,
  CreateGuildExpressions: 1n << 43n,
  CreateEvents: 1n << 44n,
  UseExternalSounds: 1n << 45n,
  SendVoiceMessages: 1n << 46n,
  SetVoiceChannelStatus: 1n << 48n,
  SendPolls: 1n << 49n,
  UseExternalApps: 1n << 50n,
  PinMessages: 1n << 51n,
  BypassSlowmode: 1n << 52n,
} as const;

export type PermissionName = keyof typeof PERMISSIONS;

/** A permission set as tests like to write it: names, a bigint, or Discord's decimal string. */
export type PermissionInput = bigint | string | readonly PermissionName[];

export const ALL_PERMISSIONS = Object.values(PERMISSIONS).reduce((all, bit) => all | bit, 0n);

/** What a fresh guild's @everyone role gets on Discord today (close enough for bots). */
export const DEFAULT_EVERYONE_PERMISSIONS = permissionsOf([
  'CreateInstantInvite',
  'AddReactions',
  'Stream',
  'ViewChannel',
  'SendMessages',
  'EmbedLinks',
  'AttachFiles',
  'ReadMessageHistory',
  'UseExternalEmojis',
  'Connect',
  'Speak',
  'UseVAD',
  'ChangeNickname',
  'UseApplicationCommands',
  'RequestToSpeak',
  'CreatePublicThreads',
  'CreatePrivateThreads',
  'UseExternalStickers',
  'SendMessagesInThreads',
  'UseEmbeddedActivities',
  'UseSoundboard',
  'UseExternalSounds',
  'SendVoiceMessages',
  'SendPolls',
  'UseExternalApps',
]);

/** What a typical invite link grants an image bot's managed role. */
export const DEFAULT_BOT_PERMISSIONS = permissionsOf([
  'ViewChannel',
  'SendMessages',
  'SendMessagesInThreads',
  'EmbedLinks',
  'AttachFiles',
  'ReadMessageHistory',
  'AddReactions',
  'UseExternalEmojis',
]);

export function permissionsOf(input: PermissionInput): bigint {
  if (typeof input === 'bigint') return input;
  if (typeof input === 'string') {
    if (!/^\d+$/.test(input)) throw new TypeError(`permissions must be a decimal string, got ${JSON.stringify(input)}`);
    return BigInt(input);
  }
  let bits = 0n;
  for (const name of input) {
    const bit = PERMISSIONS[name];
    if (bit === undefined) throw new TypeError(`unknown permission name ${JSON.stringify(name)}`);
    bits |= bit;
  }
  return bits;
}

export function hasPermission(bits: bigint, wanted: bigint): boolean {
  return (bits & PERMISSIONS.Administrator) !== 0n || (bits & wanted) === wanted;
}

export function permissionNames(bits: bigint): PermissionName[] {
  return (Object.keys(PERMISSIONS) as PermissionName[]).filter((name) => (bits & PERMISSIONS[name]) === PERMISSIONS[name]);
}

export interface PermissionOverwrite {
  id: string;
  /** 0 = role, 1 = member */
  type: 0 | 1;
  allow: bigint;
  deny: bigint;
}

/** Discord's documented algorithm: base from roles, then @everyone, role and member overwrites. */
export function computePermissions(args: {
  guildId: string;
  ownerId: string;
  userId: string;
  memberRoleIds: readonly string[];
  rolePermissions: ReadonlyMap<string, bigint>;
  /** Channel overwrites; undefined for guild-level permissions. */
  overwrites?: readonly PermissionOverwrite[];
}): bigint {
  if (args.userId === args.ownerId) return ALL_PERMISSIONS;
  let base = args.rolePermissions.get(args.guildId) ?? 0n;
  for (const roleId of args.memberRoleIds) base |= args.rolePermissions.get(roleId) ?? 0n;
  if ((base & PERMISSIONS.Administrator) !== 0n) return ALL_PERMISSIONS;

  if (args.overwrites === undefined) return base;
  let perms = base;
  const everyone = args.overwrites.find((o) => o.type === 0 && o.id === args.guildId);
  if (everyone) perms = (perms & ~everyone.deny) | everyone.allow;
  let allow = 0n;
  let deny = 0n;
  for (const o of args.overwrites) {
    if (o.type === 0 && args.memberRoleIds.includes(o.id)) {
      allow |= o.allow;
      deny |= o.deny;
    }
  }
  perms = (perms & ~deny) | allow;
  const member = args.overwrites.find((o) => o.type === 1 && o.id === args.userId);
  if (member) perms = (perms & ~member.deny) | member.allow;
  // Without ViewChannel nothing else in the channel is usable.
  if ((perms & PERMISSIONS.ViewChannel) === 0n) return 0n;
  return perms;
}

import { channelTypeOf, DEFAULT_GUILDS, type GuildOptions, type ParsedStandInOptions } from './options.js';
import { computePermissions, DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, permissionsOf, type PermissionOverwrite } from './permissions.js';
import { SnowflakeGenerator } from './snowflake.js';

/** The guilds, channels, roles and users the stand-in serves: static after start. */

export interface UserRecord {
  id: string;
  username: string;
  globalName: string | null;
  bot: boolean;
}

export interface RoleRecord {
  id: string;
  name: string;
  permissions: bigint;
  position: number;
  color: number;
  managed: boolean;
  botId?: string;
}

export interface ChannelRecord {
  id: string;
  guildId: string;
  name: string;
  type: number;
  nsfw: boolean;
  position: number;
  topic: string | null;
  overwrites: PermissionOverwrite[];
}

export interface MemberRecord {
  user: UserRecord;
  roleIds: string[];
  nick: string | null;
  joinedAt: string;
}

export interface GuildRecord {
  id: string;
  name: string;
  ownerId: string;
  preferredLocale: string;
  attachmentSizeLimit: number;
  roles: RoleRecord[];
  channels: ChannelRecord[];
  members: MemberRecord[];
  joinedAt: string;
}

export const DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024;
// Fixed base time so configured ids are the same in every run (easier to read in failures).
const CONFIG_ID_TIME = Date.UTC(2024, 0, 1);

export class World {
  readonly bot: UserRecord;
  readonly applicationId: string;
  readonly guilds: GuildRecord[];
  private readonly users = new Map<string, UserRecord>();

  constructor(options: ParsedStandInOptions) {
    const ids = new SnowflakeGenerator(() => CONFIG_ID_TIME);
    this.applicationId = options.applicationId ?? ids.next();
    this.bot = { id: this.applicationId, username: options.botUsername ?? 'Imagine', globalName: null, bot: true };
    this.users.set(this.bot.id, this.bot);
    const joinedAt = new Date(CONFIG_ID_TIME).toISOString();
    this.guilds = (options.guilds ?? DEFAULT_GUILDS).map((g) =>
      this.buildGuild(g, ids, joinedAt, options.attachmentSizeLimit ?? DEFAULT_ATTACHMENT_SIZE_LIMIT),
    );
  }

  private userFor(username: string, ids: SnowflakeGenerator, id?: string, globalName?: string): UserRecord {
    const existing = [...this.users.values()].find((u) => u.username === username);
    if (existing) {
      if (id && existing.id !== id) throw new TypeError(`user ${username} configured with two different ids`);
      return existing;
    }
    const user: UserRecord = { id: id ?? ids.next(), username, globalName: globalName ?? null, bot: false };
    this.users.set(user.id, user);
    return user;
  }

  private buildGuild(g: GuildOptions, ids: SnowflakeGenerator, joinedAt: string, defaultLimit: number): GuildRecord {
    const guildId = g.id ?? ids.next();
    const roles: RoleRecord[] = [
      {
        id: guildId,
        name: '@everyone',
        permissions: g.everyonePermissions === undefined ? DEFAULT_EVERYONE_PERMISSIONS : permissionsOf(g.everyonePermissions),
        position: 0,
        color: 0,
        managed: false,
      },
    ];
    for (const r of g.roles ?? []) {
      roles.push({
        id: r.id ?? ids.next(),
        name: r.name,
        permissions: permissionsOf(r.permissions ?? []),
        position: roles.length,
        color: r.color ?? 0,
        managed: false,
      });
    }
    const botRole: RoleRecord = {
      id: ids.next(),
      name: this.bot.username,
      permissions: g.botPermissions === undefined ? DEFAULT_BOT_PERMISSIONS : permissionsOf(g.botPermissions),
      position: roles.length,
      color: 0,
      managed: true,
      botId: this.bot.id,
    };
    roles.push(botRole);
    const roleId = (ref: string): string => {
      const role = roles.find((r) => r.id === ref || r.name === ref);
      if (!role) throw new TypeError(`guild ${g.name}: unknown role ${JSON.stringify(ref)}`);
      return role.id;
    };

    const members: MemberRecord[] = [];
    for (const m of g.members ?? []) {
      const user = this.userFor(m.username, ids, m.id, m.globalName);
      const roleIds = (m.roles ?? []).map(roleId);
      if (m.permissions !== undefined) {
        const personal: RoleRecord = {
          id: ids.next(),
          name: `${m.username} permissions`,
          permissions: permissionsOf(m.permissions),
          position: roles.length,
          color: 0,
          managed: false,
        };
        roles.push(personal);
        roleIds.push(personal.id);
      }
      members.push({ user, roleIds, nick: m.nick ?? null, joinedAt });
    }
    const ownerName = g.owner ?? 'owner';
    let owner = members.find((m) => m.user.username === ownerName);
    if (!owner) {
      owner = { user: this.userFor(ownerName, ids), roleIds: [], nick: null, joinedAt };
      members.push(owner);
    }
    members.push({ user: this.bot, roleIds: [botRole.id], nick: null, joinedAt });

    const channels: ChannelRecord[] = (g.channels?.length ? g.channels : [{ name: 'general' }]).map((c, position) => ({
      id: c.id ?? ids.next(),
      guildId,
      name: c.name,
      type: channelTypeOf(c.type),
      nsfw: c.nsfw ?? false,
      position,
      topic: c.topic ?? null,
      overwrites: (c.permissionOverwrites ?? []).map((o) => ({
        id: o.role !== undefined ? (o.role === '@everyone' ? guildId : roleId(o.role)) : this.user(o.user as string).id,
        type: o.role !== undefined ? (0 as const) : (1 as const),
        allow: permissionsOf(o.allow ?? []),
        deny: permissionsOf(o.deny ?? []),
      })),
    }));

    return {
      id: guildId,
      name: g.name,
      ownerId: owner.user.id,
      preferredLocale: g.preferredLocale ?? 'en-US',
      attachmentSizeLimit: g.attachmentSizeLimit ?? defaultLimit,
      roles,
      channels,
      members,
      joinedAt,
    };
  }

  /** A guild by id or name; the first guild when omitted. */
  guild(ref?: string): GuildRecord {
    if (ref === undefined) return this.guilds[0];
    const guild = this.guilds.find((g) => g.id === ref || g.name === ref);
    if (!guild) throw new Error(`unknown guild ${JSON.stringify(ref)}; have ${this.guilds.map((g) => g.name).join(', ')}`);
    return guild;
  }

  /** A channel by id, name or #name; searched in `guildRef` (default: all guilds, first guild first). */
  channel(ref: string, guildRef?: string): ChannelRecord {
    const name = ref.startsWith('#') ? ref.slice(1) : ref;
    const guilds = guildRef === undefined ? this.guilds : [this.guild(guildRef)];
    for (const g of guilds) {
      const channel = g.channels.find((c) => c.id === ref || c.name === name);
      if (channel) return channel;
    }
    throw new Error(`unknown channel ${JSON.stringify(ref)}`);
  }

  findChannel(id: string): ChannelRecord | undefined {
    for (const g of this.guilds) {
      const channel = g.channels.find((c) => c.id === id);
      if (channel) return channel;
    }
    return undefined;
  }

  /** A user by id or username. */
  user(ref: string): UserRecord {
    const user = this.users.get(ref) ?? [...this.users.values()].find((u) => u.username === ref);
    if (!user) throw new Error(`unknown user ${JSON.stringify(ref)}; have ${[...this.users.values()].map((u) => u.username).join(', ')}`);
    return user;
  }

  findUser(id: string): UserRecord | undefined {
    return this.users.get(id);
  }

  member(guild: GuildRecord, userId: string): MemberRecord | undefined {
    return guild.members.find((m) => m.user.id === userId);
  }

  /** The member interactions come from when a test names none: the first non-owner human. */
  defaultMember(guild: GuildRecord): MemberRecord {
    const humans = guild.members.filter((m) => !m.user.bot);
    return humans.find((m) => m.user.id !== guild.ownerId) ?? humans[0];
  }

  permissionsIn(channel: ChannelRecord, userId: string): bigint {
    const guild = this.guild(channel.guildId);
    return this.permissions(guild, userId, channel.overwrites);
  }

  guildPermissions(guild: GuildRecord, userId: string): bigint {
    return this.permissions(guild, userId, undefined);
  }

  private permissions(guild: GuildRecord, userId: string, overwrites: PermissionOverwrite[] | undefined): bigint {
    const member = this.member(guild, userId);
    if (!member) return 0n;
    return computePermissions({
      guildId: guild.id,
      ownerId: guild.ownerId,
      userId,
      memberRoleIds: member.roleIds,
      rolePermissions: new Map(guild.roles.map((r) => [r.id, r.permissions])),
      overwrites,
    });
  }
}

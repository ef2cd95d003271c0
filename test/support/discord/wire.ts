import type { APIGuildMember, APIRole, APIUser, GuildMemberFlags, RoleFlags, UserFlags } from 'discord.js';
import type { ChannelRecord, GuildRecord, MemberRecord, RoleRecord, UserRecord, World } from './world.js';

/** World records as Discord puts them on the wire (REST responses and gateway payloads). */

export type Json = Record<string, unknown>;

export function userJson(user: UserRecord): APIUser {
  return {
    id: user.id,
    username: user.username,
    discriminator: '0',
    global_name: user.globalName,
    avatar: null,
    ...(user.bot ? { bot: true } : {}),
    public_flags: 0 as UserFlags,
    flags: 0 as UserFlags,
    banner: null,
    accent_color: null,
    avatar_decoration_data: null,
  };
}

export function roleJson(role: RoleRecord): APIRole {
  return {
    id: role.id,
    name: role.name,
    color: role.color,
    colors: { primary_color: role.color, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position: role.position,
    permissions: role.permissions.toString(),
    managed: role.managed,
    mentionable: false,
    flags: 0 as RoleFlags,
    ...(role.botId ? { tags: { bot_id: role.botId } } : {}),
  };
}

export function memberJson(member: MemberRecord): APIGuildMember {
  return {
    user: userJson(member.user),
    nick: member.nick,
    avatar: null,
    banner: null,
    roles: [...member.roleIds],
    joined_at: member.joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0 as GuildMemberFlags,
    pending: false,
    communication_disabled_until: null,
  };
}

export function channelJson(channel: ChannelRecord, extra: Json = {}): Json {
  return {
    id: channel.id,
    type: channel.type,
    guild_id: channel.guildId,
    name: channel.name,
    position: channel.position,
    permission_overwrites: channel.overwrites.map((o) => ({
      id: o.id,
      type: o.type,
      allow: o.allow.toString(),
      deny: o.deny.toString(),
    })),
    nsfw: channel.nsfw,
    topic: channel.topic,
    parent_id: null,
    last_message_id: null,
    rate_limit_per_user: 0,
    flags: 0,
    ...extra,
  };
}

export function guildJson(guild: GuildRecord): Json {
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    icon_hash: null,
    splash: null,
    discovery_splash: null,
    owner_id: guild.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    widget_enabled: false,
    verification_level: 0,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    roles: guild.roles.map(roleJson),
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    max_members: 500000,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: guild.preferredLocale,
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
    incidents_data: null,
    hub_type: null,
  };
}

/** The GUILD_CREATE a bot gets after READY, with its own member first-class. */
export function guildCreateJson(guild: GuildRecord): Json {
  return {
    ...guildJson(guild),
    joined_at: guild.joinedAt,
    large: false,
    unavailable: false,
    member_count: guild.members.length,
    voice_states: [],
    members: guild.members.map(memberJson),
    channels: guild.channels.map((c) => {
      // GUILD_CREATE channels carry no guild_id.
      const { guild_id: _omit, ...rest } = channelJson(c);
      return rest;
    }),
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

export function applicationJson(world: World, flags: number): Json {
  return {
    id: world.applicationId,
    name: world.bot.username,
    icon: null,
    description: '',
    summary: '',
    type: null,
    bot_public: true,
    bot_require_code_grant: false,
    bot: userJson(world.bot),
    owner: userJson(world.user(world.guilds[0].ownerId)),
    team: null,
    verify_key: '0'.repeat(64),
    flags,
    hook: true,
    is_monetized: false,
    approximate_guild_count: world.guilds.length,
    redirect_uris: [],
    interactions_endpoint_url: null,
    tags: [],
    integration_types_config: { '0': {} },
  };
}

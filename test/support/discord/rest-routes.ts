import type { CommandStore } from './commands.js';
import { ApiErrors } from './errors.js';
import type { ParsedBody } from './http-body.js';
import type { InteractionStore } from './interactions.js';
import { MessageFlags, parseMessageInput } from './message-payload.js';
import type { MessageStore, StoredMessage } from './messages.js';
import { hasPermission, PERMISSIONS } from './permissions.js';
import { applicationJson, channelJson, guildJson, memberJson, roleJson, userJson, type Json } from './wire.js';
import type { ChannelRecord, GuildRecord, World } from './world.js';

/** The REST routes: what each Discord endpoint the bot may call does to the stand-in's state. */

export interface RestCore {
  world: World;
  applicationFlags: number;
  messages: MessageStore;
  commands: CommandStore;
  interactions: InteractionStore;
  gatewayUrl(): string;
  /** `shards` of GET /gateway/bot: the shard count Discord recommends. */
  recommendedShards: number;
  recordTyping(channel: ChannelRecord): void;
}

export interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
  body: ParsedBody;
}

export interface RouteResult {
  status: number;
  json?: unknown;
}

export interface Route {
  method: string;
  template: string;
  /** Needs `Authorization: Bot <token>` (interaction callbacks and webhooks with a token do not). */
  auth: boolean;
  handle(ctx: RouteContext): RouteResult;
}

const ok = (json: unknown): RouteResult => ({ status: 200, json });
const created = (json: unknown): RouteResult => ({ status: 201, json });
const noContent = (): RouteResult => ({ status: 204 });

export function buildRoutes(core: RestCore): Route[] {
  const { world, messages, commands, interactions } = core;
  const bot = world.bot;

  const guildOf = (guildId: string): GuildRecord => {
    const guild = world.guilds.find((g) => g.id === guildId);
    if (!guild) throw ApiErrors.unknownGuild();
    return guild;
  };
  const channelOf = (channelId: string): ChannelRecord => {
    const channel = world.findChannel(channelId);
    if (!channel) throw ApiErrors.unknownChannel();
    if (!hasPermission(world.permissionsIn(channel, bot.id), PERMISSIONS.ViewChannel)) throw ApiErrors.missingAccess();
    return channel;
  };
  const requireBotPermission = (channel: ChannelRecord, wanted: bigint) => {
    if (!hasPermission(world.permissionsIn(channel, bot.id), wanted)) throw ApiErrors.missingPermissions();
  };
  const messageIn = (channel: ChannelRecord, messageId: string): StoredMessage => {
    const message = messages.get(messageId);
    if (!message || message.deleted || message.ephemeral || message.channel.id !== channel.id) throw ApiErrors.unknownMessage();
    return message;
  };
  const ownApp = (applicationId: string) => {
    if (applicationId !== world.applicationId) throw ApiErrors.missingAccess();
  };
  const commandGuild = (guildId: string) => {
    if (!world.guilds.some((g) => g.id === guildId)) throw ApiErrors.missingAccess();
    return guildId;
  };
  const sizeLimit = (channel: ChannelRecord) => guildOf(channel.guildId).attachmentSizeLimit;

  const routes: Route[] = [
    { method: 'GET', template: '/gateway', auth: false, handle: () => ok({ url: core.gatewayUrl() }) },
    {
      method: 'GET',
      template: '/gateway/bot',
      auth: true,
      handle: () =>
        ok({
          url: core.gatewayUrl(),
          shards: core.recommendedShards,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 },
        }),
    },
    {
      method: 'GET',
      template: '/users/@me',
      auth: true,
      handle: () => ok({ ...userJson(bot), verified: true, mfa_enabled: false, email: null, locale: 'en-US' }),
    },
    {
      method: 'GET',
      template: '/users/:userId',
      auth: true,
      handle: ({ params }) => {
        const user = world.findUser(params.userId);
        if (!user) throw ApiErrors.unknownUser();
        return ok(userJson(user));
      },
    },
    { method: 'GET', template: '/applications/@me', auth: true, handle: () => ok(applicationJson(world, core.applicationFlags)) },
    { method: 'GET', template: '/oauth2/applications/@me', auth: true, handle: () => ok(applicationJson(world, core.applicationFlags)) },
  ];

  // Application commands, global and per guild.
  for (const scoped of [false, true]) {
    const base = scoped ? '/applications/:applicationId/guilds/:guildId/commands' : '/applications/:applicationId/commands';
    const scopeOf = (params: Record<string, string>) => {
      ownApp(params.applicationId);
      return scoped ? commandGuild(params.guildId) : null;
    };
    routes.push(
      { method: 'GET', template: base, auth: true, handle: ({ params }) => ok(commands.list(scopeOf(params)).map((c) => c.json)) },
      {
        method: 'PUT',
        template: base,
        auth: true,
        handle: ({ params, body }) => ok(commands.bulkOverwrite(scopeOf(params), body.json).map((c) => c.json)),
      },
      {
        method: 'POST',
        template: base,
        auth: true,
        handle: ({ params, body }) => {
          const { command, created: isNew } = commands.upsert(scopeOf(params), body.json);
          return isNew ? created(command.json) : ok(command.json);
        },
      },
      { method: 'GET', template: `${base}/:commandId`, auth: true, handle: ({ params }) => ok(commands.get(scopeOf(params), params.commandId).json) },
      {
        method: 'PATCH',
        template: `${base}/:commandId`,
        auth: true,
        handle: ({ params, body }) => ok(commands.edit(scopeOf(params), params.commandId, body.json).json),
      },
      {
        method: 'DELETE',
        template: `${base}/:commandId`,
        auth: true,
        handle: ({ params }) => {
          commands.delete(scopeOf(params), params.commandId);
          return noContent();
        },
      },
    );
  }

  // Interactions and their webhook.
  routes.push(
    {
      method: 'POST',
      template: '/interactions/:interactionId/:token/callback',
      auth: false,
      handle: ({ params, query, body }) => {
        const response = interactions.callback(params.interactionId, params.token, body.json, body.files, query.get('with_response') === 'true');
        return response ? ok(response) : noContent();
      },
    },
    {
      method: 'POST',
      template: '/webhooks/:webhookId/:token',
      auth: false,
      handle: ({ params, query, body }) => {
        const record = interactions.webhook(params.webhookId, params.token);
        const message = interactions.followUp(record, body.json, body.files);
        return query.get('wait') === 'true' ? ok(messages.toApi(message)) : noContent();
      },
    },
    {
      method: 'GET',
      template: '/webhooks/:webhookId/:token/messages/:messageId',
      auth: false,
      handle: ({ params }) => {
        const record = interactions.webhook(params.webhookId, params.token);
        return ok(messages.toApi(interactions.webhookMessage(record, params.messageId)));
      },
    },
    {
      method: 'PATCH',
      template: '/webhooks/:webhookId/:token/messages/:messageId',
      auth: false,
      handle: ({ params, body }) => {
        const record = interactions.webhook(params.webhookId, params.token);
        return ok(messages.toApi(interactions.editWebhookMessage(record, params.messageId, body.json, body.files)));
      },
    },
    {
      method: 'DELETE',
      template: '/webhooks/:webhookId/:token/messages/:messageId',
      auth: false,
      handle: ({ params }) => {
        interactions.deleteWebhookMessage(interactions.webhook(params.webhookId, params.token), params.messageId);
        return noContent();
      },
    },
  );

  // Channels and messages.
  routes.push(
    { method: 'GET', template: '/channels/:channelId', auth: true, handle: ({ params }) => ok(channelJson(channelOf(params.channelId))) },
    {
      method: 'GET',
      template: '/channels/:channelId/messages',
      auth: true,
      handle: ({ params, query }) => {
        const channel = channelOf(params.channelId);
        requireBotPermission(channel, PERMISSIONS.ReadMessageHistory);
        const limit = Math.min(Math.max(Number(query.get('limit') ?? 50) || 50, 1), 100);
        const list = messages.inChannel(channel.id).reverse().slice(0, limit);
        return ok(list.map((m) => messages.toApi(m)));
      },
    },
    {
      method: 'POST',
      template: '/channels/:channelId/messages',
      auth: true,
      handle: ({ params, body }) => {
        const channel = channelOf(params.channelId);
        requireBotPermission(channel, PERMISSIONS.SendMessages);
        if (body.files.length) requireBotPermission(channel, PERMISSIONS.AttachFiles);
        const input = parseMessageInput(body.json, 'create');
        if (input.messageReference) requireBotPermission(channel, PERMISSIONS.ReadMessageHistory);
        const message = messages.create({
          channel,
          author: bot,
          input: { ...input, flags: (input.flags ?? 0) & ~MessageFlags.Ephemeral },
          uploads: body.files,
          kind: 'channel',
          type: 0,
          ephemeral: false,
          sizeLimit: sizeLimit(channel),
        });
        return ok(messages.toApi(message));
      },
    },
    {
      method: 'GET',
      template: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: ({ params }) => {
        const channel = channelOf(params.channelId);
        requireBotPermission(channel, PERMISSIONS.ReadMessageHistory);
        return ok(messages.toApi(messageIn(channel, params.messageId)));
      },
    },
    {
      method: 'PATCH',
      template: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: ({ params, body }) => {
        const channel = channelOf(params.channelId);
        const message = messageIn(channel, params.messageId);
        if (message.author.id !== bot.id) throw ApiErrors.cannotEditOthers();
        messages.assertEditable(message);
        if (body.files.length) requireBotPermission(channel, PERMISSIONS.AttachFiles);
        return ok(messages.toApi(messages.edit(message, parseMessageInput(body.json, 'edit'), body.files, sizeLimit(channel))));
      },
    },
    {
      method: 'DELETE',
      template: '/channels/:channelId/messages/:messageId',
      auth: true,
      handle: ({ params }) => {
        const channel = channelOf(params.channelId);
        const message = messageIn(channel, params.messageId);
        if (message.author.id !== bot.id) requireBotPermission(channel, PERMISSIONS.ManageMessages);
        messages.delete(message);
        return noContent();
      },
    },
    {
      method: 'POST',
      template: '/channels/:channelId/typing',
      auth: true,
      handle: ({ params }) => {
        const channel = channelOf(params.channelId);
        requireBotPermission(channel, PERMISSIONS.SendMessages);
        core.recordTyping(channel);
        return noContent();
      },
    },
    {
      method: 'PUT',
      template: '/channels/:channelId/messages/:messageId/reactions/:emoji/@me',
      auth: true,
      handle: ({ params }) => {
        const channel = channelOf(params.channelId);
        requireBotPermission(channel, PERMISSIONS.ReadMessageHistory);
        const message = messageIn(channel, params.messageId);
        const emoji = params.emoji;
        if (!message.reactions.has(emoji)) requireBotPermission(channel, PERMISSIONS.AddReactions);
        // Unicode emoji, or a custom one as name:id; plain ASCII words are not emoji.
        const isCustom = /^[\w~]+:\d+$/.test(emoji);
        if (!emoji || (!isCustom && /^[\x20-\x7e]+$/.test(emoji))) throw ApiErrors.unknownEmoji();
        messages.react(message, emoji, bot.id, true);
        return noContent();
      },
    },
    {
      method: 'DELETE',
      template: '/channels/:channelId/messages/:messageId/reactions/:emoji/@me',
      auth: true,
      handle: ({ params }) => {
        const channel = channelOf(params.channelId);
        messages.react(messageIn(channel, params.messageId), params.emoji, bot.id, false);
        return noContent();
      },
    },
  );

  // Guilds.
  routes.push(
    {
      method: 'GET',
      template: '/guilds/:guildId',
      auth: true,
      handle: ({ params }) => {
        const guild = guildOf(params.guildId);
        return ok({ ...guildJson(guild), approximate_member_count: guild.members.length });
      },
    },
    {
      method: 'GET',
      template: '/guilds/:guildId/channels',
      auth: true,
      handle: ({ params }) => ok(guildOf(params.guildId).channels.map((c) => channelJson(c))),
    },
    { method: 'GET', template: '/guilds/:guildId/roles', auth: true, handle: ({ params }) => ok(guildOf(params.guildId).roles.map(roleJson)) },
    {
      method: 'GET',
      template: '/guilds/:guildId/members/:userId',
      auth: true,
      handle: ({ params }) => {
        const member = world.member(guildOf(params.guildId), params.userId);
        if (!member) throw ApiErrors.unknownMember();
        return ok(memberJson(member));
      },
    },
  );
  return routes;
}

export interface MatchedRoute {
  route: Route;
  params: Record<string, string>;
}

/** Finds the route for a (decoded) path; `methodMismatch` when the path exists with other methods. */
export function matchRoute(routes: readonly Route[], method: string, path: string): MatchedRoute | 'methodMismatch' | undefined {
  const segments = path.split('/').filter(Boolean);
  let pathMatched = false;
  for (const route of routes) {
    const parts = route.template.split('/').filter(Boolean);
    if (parts.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = parts.every((part, i) => {
      if (part.startsWith(':')) {
        params[part.slice(1)] = segments[i];
        return true;
      }
      return part === segments[i];
    });
    if (!matches) continue;
    // Literal routes (/users/@me) win over parameter routes (/users/:userId).
    if (route.method === method) return { route, params };
    pathMatched = true;
  }
  return pathMatched ? 'methodMismatch' : undefined;
}

/** The rate-limit bucket's major parameters: Discord buckets per channel, guild, webhook, interaction. */
export function majorParameters(params: Record<string, string>): string {
  return ['channelId', 'guildId', 'webhookId', 'interactionId', 'token']
    .filter((k) => params[k] !== undefined)
    .map((k) => params[k])
    .join(':');
}

export type { Json };

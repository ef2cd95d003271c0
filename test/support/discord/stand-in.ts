import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChangeSignal, type Probe, type WaitOptions } from './change-signal.js';
import { createClock, type StandInClock } from './clock.js';
import { buildCommandOptions, CommandStore, type AttachmentInput, type CommandRegistration, type OptionValueInput, type StoredCommand } from './commands.js';
import { ComponentType } from './components.js';
import { ApiErrors, DiscordApiFailure } from './errors.js';
import { Gateway, GatewayIntents, type DispatchRecord, type GatewaySession, type IdentifyRecord } from './gateway.js';
import { parseBody, readRaw, type ParsedBody } from './http-body.js';
import {
  type InteractionHandle,
  InteractionStore,
  InteractionType,
  newInteractionToken,
  type InteractionKind,
  type InteractionRecord,
} from './interactions.js';
import { MessageFlags } from './message-payload.js';
import { MessageStore, type MessageEvent, type StoredMessage, type ViewMessage } from './messages.js';
import { parseStandInOptions, type DiscordStandInOptions } from './options.js';
import { hasPermission, PERMISSIONS, permissionsOf, type PermissionInput } from './permissions.js';
import { compileRouteMatcher, RateLimiter, type RouteMatcher } from './rate-limits.js';
import { buildRoutes, majorParameters, matchRoute, type Route } from './rest-routes.js';
import { SnowflakeGenerator } from './snowflake.js';
import { channelJson, memberJson, roleJson, userJson, type Json } from './wire.js';
import { World, type ChannelRecord, type GuildRecord, type UserRecord } from './world.js';

/** A file in a recorded multipart request. */
export interface RecordedFile {
  field: string;
  filename: string;
  contentType: string;
  size: number;
  bytes: Buffer;
}

/** One HTTP request the bot made, in arrival order. */
export interface RecordedRequest {
  seq: number;
  /** Stand-in clock time of arrival. */
  at: number;
  method: string;
  /** Path after /api/v10, e.g. /channels/123/messages (no query). */
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** The JSON body, or multipart payload_json. */
  json: unknown;
  files: RecordedFile[];
  /** Matched route template, e.g. "POST /channels/:channelId/messages"; undefined when no route matched. */
  route?: string;
  status: number;
  response?: unknown;
  /** Response headers, lower-cased (X-RateLimit-* on every API response). */
  responseHeaders: Record<string, string>;
  /** Set on 429s: "injected" (rateLimitNext / probability) or "exhausted" (bucket empty). */
  rateLimited?: 'injected' | 'exhausted';
}

/** Who/where an interaction comes from. Names or ids everywhere. */
export interface InteractionContext {
  /** Guild id or name (default: the channel's guild, else the first guild). */
  guild?: string;
  /** Channel id, name or #name (default: the guild's first text channel). */
  channel?: string;
  /** User id or username (default: the first configured non-owner member). */
  user?: string;
  /** The user's client locale (default en-US). */
  locale?: string;
  /** Overrides the member's computed channel permissions in the payload. */
  memberPermissions?: PermissionInput;
  /** Overrides the bot's computed channel permissions (app_permissions). */
  appPermissions?: PermissionInput;
  /** Overrides the guild's upload limit for this interaction (attachment_size_limit). */
  attachmentSizeLimit?: number;
  /** Skip the checks Discord's client makes (command visible to the user, nsfw channel, ...). */
  skipClientChecks?: boolean;
  /** How long to wait for the bot to be connected before dispatching (default 5000 ms). */
  connectTimeoutMs?: number;
  /**
   * Send it from the user's DM with the bot instead of a guild channel (no guild, no member;
   * `context` 1). Commands registered for guilds only need `skipClientChecks` too, as they would
   * need a modified client on Discord.
   */
  dm?: boolean;
}

export type SlashOptions = Readonly<Record<string, OptionValueInput>>;
export type { AttachmentInput, OptionValueInput };

const API_PREFIX = /^\/api\/v(\d+)(\/.*)$/;

export class DiscordStandIn {
  readonly clock: StandInClock;
  readonly token: string;
  readonly applicationId: string;
  readonly botUser: UserRecord;
  readonly world: World;
  private readonly options: ReturnType<typeof parseStandInOptions>;
  private readonly ids: SnowflakeGenerator;
  private readonly signal: ChangeSignal;
  private readonly messageStore: MessageStore;
  private readonly commandStore: CommandStore;
  private readonly interactionStore: InteractionStore;
  private readonly gw: Gateway;
  private readonly limiter: RateLimiter;
  private readonly routes: Route[];
  private readonly recorded: RecordedRequest[] = [];
  private readonly typing: { channelId: string; at: number }[] = [];
  private readonly internalErrors: Error[] = [];
  private readonly server: Server;
  private port = 0;
  private closed = false;
  private down = false;
  private readonly dmChannels = new Map<string, ChannelRecord>();
  private readonly serverFailures: { matches: (method: string, path: string) => boolean; status: number; remaining: number }[] = [];

  /** Use startDiscordStandIn(). */
  constructor(options: DiscordStandInOptions = {}) {
    this.options = parseStandInOptions(options);
    const o = this.options;
    this.clock = createClock(o.now);
    this.world = new World(o);
    this.applicationId = this.world.applicationId;
    this.botUser = this.world.bot;
    this.token = o.token ?? `${Buffer.from(this.applicationId).toString('base64url')}.GStand.in-discord-test-token-not-a-real-one`;
    this.ids = new SnowflakeGenerator(() => this.clock.now());
    this.signal = new ChangeSignal(() => this.describe());
    const notify = () => this.signal.notify();
    this.messageStore = new MessageStore(
      this.world,
      this.ids,
      () => this.clock.now(),
      () => this.baseUrl,
      (event, message) => this.onMessageEvent(event, message),
    );
    this.commandStore = new CommandStore(this.applicationId, this.ids, () => this.clock.now(), notify);
    this.interactionStore = new InteractionStore({
      world: this.world,
      messages: this.messageStore,
      ids: this.ids,
      now: () => this.clock.now(),
      signal: this.signal,
      ackTimeoutMs: o.interactionAckTimeoutMs ?? 3000,
    });
    const privileged = (o.privilegedIntents ?? []).reduce((bits, name) => bits | GatewayIntents[name], 0);
    this.gw = new Gateway({
      world: this.world,
      token: this.token,
      applicationFlags: o.applicationFlags ?? 0,
      privilegedIntents: privileged,
      heartbeatIntervalMs: o.heartbeatIntervalMs ?? 41_250,
      url: () => this.gatewayUrl,
      recommendedShards: o.shards ?? 1,
      now: () => this.clock.now(),
      notify,
      log: (line) => o.log?.(line),
    });
    this.limiter = new RateLimiter({
      limit: o.rateLimit?.limit ?? 50,
      windowMs: o.rateLimit?.windowMs ?? 1000,
      retryAfterMs: o.retryAfterMs ?? 100,
      probability: o.rateLimitProbability ?? 0,
      random: o.random ?? Math.random,
    });
    this.routes = buildRoutes({
      world: this.world,
      applicationFlags: o.applicationFlags ?? 0,
      messages: this.messageStore,
      commands: this.commandStore,
      interactions: this.interactionStore,
      gatewayUrl: () => this.gatewayUrl,
      recommendedShards: o.shards ?? 1,
      recordTyping: (channel) => {
        this.typing.push({ channelId: channel.id, at: this.clock.now() });
        notify();
      },
    });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => this.internalError(error, res));
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://x').pathname.startsWith('/gateway')) this.gw.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  /** @internal */
  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  // ---- outages ----

  /**
   * Discord becomes unreachable: the port stops listening (connection refused) and every open
   * HTTP and gateway connection is cut. State (messages, sessions, interactions) is kept, so
   * `goOnline()` brings the same Discord back on the same port.
   */
  async goOffline(): Promise<void> {
    if (this.down || this.closed) return;
    this.down = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    this.gw.disconnectAll();
    await closed;
    this.signal.notify();
  }

  /** Ends an outage: listens again on the same port. */
  async goOnline(): Promise<void> {
    if (!this.down || this.closed) return;
    await this.listen();
    this.down = false;
    this.signal.notify();
  }

  get isOffline(): boolean {
    return this.down;
  }

  // ---- addresses ----

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What the bot passes as `rest: { api }` (DISCORD_API_URL); discord.js appends /v10. */
  get restUrl(): string {
    return `${this.baseUrl}/api`;
  }

  /** Returned by GET /gateway/bot; discord.js connects here by itself. */
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }

  // ---- the world ----

  guild(ref?: string): GuildRecord {
    return this.world.guild(ref);
  }

  channel(ref: string, guild?: string): ChannelRecord {
    return this.world.channel(ref, guild);
  }

  user(ref: string): UserRecord {
    return this.world.user(ref);
  }

  // ---- commands ----

  /** Registered commands as Discord returns them; global when `guild` is omitted. */
  commands(guild?: string): Json[] {
    return this.commandStore.list(guild === undefined ? null : this.guild(guild).id).map((c) => c.json);
  }

  get commandRegistrations(): readonly CommandRegistration[] {
    return this.commandStore.registrations;
  }

  /** Registers commands as if the bot had PUT them (for tests that skip the bot's registration). */
  seedCommands(commands: readonly Json[], guild?: string): Json[] {
    return this.commandStore.bulkOverwrite(guild === undefined ? null : this.guild(guild).id, commands).map((c) => c.json);
  }

  // ---- interactions ----

  /**
   * A user runs `/command [subcommand-group] [subcommand]` with `options`. The command must be
   * registered (Discord's client only offers registered commands); values are typed and checked
   * against its schema. Attachments: `{ filename, bytes, contentType? }`, served by the stand-in.
   */
  async slash(command: string, options: SlashOptions = {}, ctx: InteractionContext = {}): Promise<InteractionHandle> {
    const { stored, subPath, where } = this.commandFor(command, ctx);
    const built = buildCommandOptions(stored, subPath, options, this.optionResolver(where), undefined);
    return this.dispatch('command', InteractionType.ApplicationCommand, where, ctx, {
      data: this.commandData(stored, built),
      commandName: stored.name,
    });
  }

  /**
   * A user runs the message context-menu command `name` (type 3) on `message`, anyone's. As on
   * Discord, the target arrives whole in `resolved.messages` (content and attachments too,
   * without the Message Content intent).
   */
  async messageCommand(name: string, message: string | ViewMessage, ctx: InteractionContext = {}): Promise<InteractionHandle> {
    const target = this.messageStore.get(typeof message === 'string' ? message : message.id);
    if (!target || target.deleted) throw new Error(`no message ${typeof message === 'string' ? message : message.id}`);
    const where = this.where({ ...ctx, channel: ctx.channel ?? target.channel.id });
    const stored = this.commandStore.find(name, where.guild.id, 3);
    if (!stored) throw new Error(`message command "${name}" is not registered in ${where.guild.name}`);
    if (!ctx.skipClientChecks) this.assertUserCanRun(stored, where);
    const api = this.messageStore.toApi(target);
    return this.dispatch('command', InteractionType.ApplicationCommand, where, ctx, {
      data: { ...this.commandData(stored, { options: [] }), target_id: target.id, resolved: { messages: { [target.id]: api } } },
      commandName: stored.name,
    });
  }

  /** A user is typing into option `focused` of `/command`; the bot should answer with choices. */
  async autocomplete(command: string, options: SlashOptions, focused: string, ctx: InteractionContext = {}): Promise<InteractionHandle> {
    const { stored, subPath, where } = this.commandFor(command, ctx);
    const built = buildCommandOptions(stored, subPath, options, this.optionResolver(where), focused);
    return this.dispatch('autocomplete', InteractionType.Autocomplete, where, ctx, {
      data: this.commandData(stored, built),
      commandName: stored.name,
    });
  }

  /**
   * A user clicks the button with `customId` on a message the bot sent. With `skipClientChecks`
   * the custom id need not be one of the message's buttons (a modified client sending any id).
   */
  async clickButton(message: string | ViewMessage, customId: string, ctx: InteractionContext = {}): Promise<InteractionHandle> {
    const stored = this.visibleBotMessage(message, ctx);
    const button = this.messageStore.toView(stored).buttons.find((b) => b.customId === customId);
    if (!button && !ctx.skipClientChecks) {
      throw new Error(
        `message ${stored.id} has no button "${customId}" (buttons: ${
          this.messageStore
            .toView(stored)
            .buttons.map((b) => b.customId ?? b.url)
            .join(', ') || 'none'
        })`,
      );
    }
    if (button?.disabled && !ctx.skipClientChecks) throw new Error(`button "${customId}" on message ${stored.id} is disabled`);
    const where = this.where({ ...ctx, channel: stored.channel.id, user: ctx.user ?? this.ephemeralOwner(stored) });
    return this.dispatch('component', InteractionType.MessageComponent, where, ctx, {
      data: { custom_id: customId, component_type: ComponentType.Button },
      message: stored,
    });
  }

  /** A user picks `values` in the select menu `customId` on a bot message. */
  async selectMenu(message: string | ViewMessage, customId: string, values: readonly string[], ctx: InteractionContext = {}): Promise<InteractionHandle> {
    const stored = this.visibleBotMessage(message, ctx);
    const select = this.messageStore.toView(stored).selects.find((s) => s.customId === customId);
    if (!select) throw new Error(`message ${stored.id} has no select menu "${customId}"`);
    if (!ctx.skipClientChecks) {
      if (select.disabled) throw new Error(`select menu "${customId}" is disabled`);
      if (values.length < select.minValues || values.length > select.maxValues) {
        throw new Error(`select menu "${customId}" takes ${select.minValues}–${select.maxValues} values, got ${values.length}`);
      }
      const unknown = select.type === ComponentType.StringSelect ? values.filter((v) => !select.options.some((o) => o.value === v)) : [];
      if (unknown.length) throw new Error(`select menu "${customId}" has no option(s) ${unknown.join(', ')}`);
    }
    const where = this.where({ ...ctx, channel: stored.channel.id, user: ctx.user ?? this.ephemeralOwner(stored) });
    return this.dispatch('component', InteractionType.MessageComponent, where, ctx, {
      data: { custom_id: customId, component_type: select.type, values: [...values] },
      message: stored,
    });
  }

  /**
   * The user fills in and submits the modal the bot opened in answer to `from`: text inputs take
   * a string, select menus inside labels take string[].
   */
  async submitModal(
    from: InteractionHandle,
    values: Readonly<Record<string, string | readonly string[] | readonly AttachmentInput[]>>,
    ctx: InteractionContext = {},
  ): Promise<InteractionHandle> {
    const origin = from.internalRecord;
    const modal = origin.modal;
    if (!modal) throw new Error(`interaction ${from.id} did not open a modal (response: ${origin.initial?.typeName ?? 'none yet'})`);
    const seen: string[] = [];
    const resolvedAttachments: Record<string, Json> = {};
    const upload = this.optionResolver({ guild: this.world.guild(origin.channel.guildId), channel: origin.channel }).attachment;
    const submitted = (input: Json): Json => {
      const customId = String(input.custom_id);
      seen.push(customId);
      const value = values[customId];
      const label = `modal input "${customId}"`;
      if (Number(input.type) === ComponentType.TextInput) {
        if (Array.isArray(value)) throw new Error(`${label} is a text input: pass a string`);
        const text = (value as string | undefined) ?? '';
        if (!ctx.skipClientChecks) {
          if (input.required !== false && text === '') throw new Error(`${label} is required`);
          if (text !== '' && typeof input.min_length === 'number' && text.length < input.min_length)
            throw new Error(`${label} needs at least ${input.min_length} characters`);
          if (typeof input.max_length === 'number' && text.length > input.max_length) throw new Error(`${label} allows at most ${input.max_length} characters`);
        }
        return { type: ComponentType.TextInput, custom_id: customId, value: text };
      }
      if (Number(input.type) === ComponentType.FileUpload) {
        // Files the user picked: uploaded to Discord, listed by id, resolved in data.resolved.attachments.
        const files = (value ?? []) as readonly (AttachmentInput | string)[];
        if (files.some((f) => typeof f === 'string')) throw new Error(`${label} is a file upload: pass { filename, bytes }[]`);
        const picked = files as readonly AttachmentInput[];
        if (!ctx.skipClientChecks) {
          if (input.required !== false && picked.length === 0) throw new Error(`${label} is required`);
          const max = typeof input.max_values === 'number' ? input.max_values : 1;
          if (picked.length > max) throw new Error(`${label} takes at most ${max} file(s)`);
        }
        const ids = picked.map((f) => {
          const stored = upload(f);
          resolvedAttachments[String(stored.id)] = stored as unknown as Json;
          return String(stored.id);
        });
        return { type: ComponentType.FileUpload, custom_id: customId, values: ids };
      }
      if (value !== undefined && !Array.isArray(value)) throw new Error(`${label} is a select menu: pass string[]`);
      if (Array.isArray(value) && value.some((v) => typeof v !== 'string')) throw new Error(`${label} is a select menu: pass string[]`);
      const picked = [...((value as readonly string[] | undefined) ?? [])];
      if (!ctx.skipClientChecks && input.required !== false && picked.length === 0) throw new Error(`${label} is required`);
      return { type: Number(input.type), custom_id: customId, values: picked };
    };
    const components = (modal.components as Json[]).map((row): Json => {
      if (Number(row.type) === ComponentType.Label) return { type: ComponentType.Label, component: submitted(row.component as Json) };
      if (Number(row.type) === ComponentType.ActionRow) return { type: ComponentType.ActionRow, components: (row.components as Json[]).map(submitted) };
      return { type: Number(row.type) };
    });
    const unknown = Object.keys(values).filter((key) => !seen.includes(key));
    if (unknown.length) throw new Error(`the modal has no input(s) ${unknown.join(', ')} (inputs: ${seen.join(', ')})`);
    const where = this.where({ ...ctx, channel: origin.channel.id, user: ctx.user ?? origin.user.id });
    const message = origin.componentMessageId ? this.messageStore.get(origin.componentMessageId) : undefined;
    return this.dispatch('modal', InteractionType.ModalSubmit, where, ctx, {
      data: { custom_id: modal.custom_id, components, ...(Object.keys(resolvedAttachments).length ? { resolved: { attachments: resolvedAttachments } } : {}) },
      ...(message ? { message } : {}),
    });
  }

  /** All interactions dispatched so far. */
  interactions(): InteractionHandle[] {
    return this.interactionStore.all().flatMap((r) => this.interactionStore.handleFor(r.id) ?? []);
  }

  // ---- user messages ----

  /** A user posts a plain message (dispatched as MESSAGE_CREATE if the bot has GuildMessages). */
  postMessage(channel: string, content: string, opts: { user?: string; files?: readonly AttachmentInput[] } = {}): ViewMessage {
    const where = this.where({ channel, ...(opts.user ? { user: opts.user } : {}) });
    const uploads = (opts.files ?? []).map((f, index) => ({
      field: `files[${index}]`,
      index,
      filename: f.filename,
      contentType: f.contentType ?? '',
      bytes: Buffer.from(f.bytes),
    }));
    const message = this.messageStore.create({
      channel: where.channel,
      author: where.user,
      input: { content },
      uploads,
      kind: 'user',
      type: 0,
      ephemeral: false,
      sizeLimit: where.guild.attachmentSizeLimit,
    });
    return this.messageStore.toView(message);
  }

  // ---- what users see ----

  /**
   * Messages in a channel, oldest first, as everyone sees them: no ephemeral messages unless
   * `visibleTo` names the user they were for; deleted ones only with `includeDeleted`.
   */
  messages(channel: string, opts: { visibleTo?: string; includeDeleted?: boolean } = {}): ViewMessage[] {
    const channelId = this.world.channel(channel).id;
    const visibleTo = opts.visibleTo === undefined ? undefined : this.world.user(opts.visibleTo).id;
    return this.messageStore
      .inChannel(channelId, { ...(visibleTo ? { visibleTo } : {}), ...(opts.includeDeleted ? { includeDeleted: true } : {}) })
      .map((m) => this.messageStore.toView(m));
  }

  /** Any message by id (ephemeral and deleted included). */
  message(id: string): ViewMessage | undefined {
    const m = this.messageStore.get(id);
    return m && this.messageStore.toView(m);
  }

  /** Times (stand-in clock) the bot triggered "is typing…" in a channel. */
  typingIn(channel: string): number[] {
    const channelId = this.world.channel(channel).id;
    return this.typing.filter((t) => t.channelId === channelId).map((t) => t.at);
  }

  // ---- requests, rate limits ----

  /** Every API request, in order. */
  get requests(): readonly RecordedRequest[] {
    return this.recorded;
  }

  /** Requests matching e.g. "POST /channels/:id/messages", "PATCH /webhooks/*", a RegExp or a predicate. */
  requestsTo(match: RouteMatcher): RecordedRequest[] {
    const matches = compileRouteMatcher(match);
    return this.recorded.filter((r) => matches(r.method, r.path));
  }

  /** Requests to endpoints the stand-in does not model (404 without a Discord error code). */
  unhandledRequests(): RecordedRequest[] {
    return this.recorded.filter((r) => r.route === undefined);
  }

  /** Errors thrown inside the stand-in itself (answered with 500); should stay empty. */
  get errors(): readonly Error[] {
    return this.internalErrors;
  }

  /** The next request matching `match` (default: any) gets one 429; the client must retry it. */
  rateLimitNext(match?: RouteMatcher, opts: { retryAfterMs?: number; global?: boolean } = {}): void {
    this.limiter.injectNext(match, opts);
  }

  /**
   * The next `times` requests matching `match` get a server error (`status`, default 500) before
   * any routing, as during a Discord incident. `clearServerErrors()` ends it early.
   */
  failNext(match: RouteMatcher | undefined, opts: { status?: number; times?: number } = {}): void {
    this.serverFailures.push({ matches: compileRouteMatcher(match), status: opts.status ?? 500, remaining: opts.times ?? 1 });
  }

  clearServerErrors(): void {
    this.serverFailures.length = 0;
  }

  /** Requests answered with 429. */
  rateLimited(): RecordedRequest[] {
    return this.recorded.filter((r) => r.status === 429);
  }

  // ---- gateway ----

  /** Gateway state and controls: identifies, dispatches, sessions, reconnect/resume drills. */
  get gateway(): {
    identifies: readonly IdentifyRecord[];
    dispatches: readonly DispatchRecord[];
    closeCodes: readonly number[];
    sessions: () => GatewaySession[];
    activeSession: () => GatewaySession | undefined;
    /** The connected session of the shard that gets `guild`'s events (name or id; none: DMs, shard 0). */
    sessionFor: (guild?: string) => GatewaySession | undefined;
    requestReconnect: (shard?: number) => void;
    invalidateSession: (resumable: boolean, shard?: number) => void;
    dropConnection: (code?: number, shard?: number) => void;
    dispatch: (t: string, d: unknown) => void;
  } {
    const gw = this.gw;
    return {
      identifies: gw.identifies,
      dispatches: gw.dispatches,
      closeCodes: gw.closeCodes,
      sessions: () => gw.allSessions(),
      activeSession: () => gw.activeSession(),
      sessionFor: (guild) => gw.sessionFor(guild === undefined ? undefined : this.world.guild(guild).id),
      requestReconnect: (shard) => gw.requestReconnect(shard),
      invalidateSession: (resumable, shard) => gw.invalidateSession(resumable, shard),
      dropConnection: (code, shard) => gw.dropConnection(code, shard),
      dispatch: (t, d) => {
        if (!gw.dispatch(t, d)) throw new Error('no bot shard that gets this event has identified on the gateway');
      },
    };
  }

  /** Resolves once a bot has identified and is connected (READY and GUILD_CREATEs sent). */
  waitForBot(opts: WaitOptions = {}): Promise<GatewaySession> {
    return this.signal.waitFor(() => this.gw.activeSession(), {
      timeoutMs: opts.timeoutMs ?? 5000,
      message: opts.message ?? 'a bot to identify on the gateway',
    });
  }

  // ---- waiting ----

  /** Resolves with `probe()`'s first truthy result, re-checked on every change. */
  waitFor<T>(probe: Probe<T>, opts: WaitOptions | number = {}): Promise<T> {
    return this.signal.waitFor(probe, typeof opts === 'number' ? { timeoutMs: opts } : opts);
  }

  /** Waits for a message in `channel` (as everyone sees it) satisfying `predicate`. */
  waitForMessage(channel: string, predicate: (m: ViewMessage) => boolean = () => true, opts: WaitOptions & { visibleTo?: string } = {}): Promise<ViewMessage> {
    return this.signal.waitFor(() => this.messages(channel, opts.visibleTo ? { visibleTo: opts.visibleTo } : {}).find(predicate), {
      timeoutMs: opts.timeoutMs ?? 5000,
      message: opts.message ?? `a message in ${channel}`,
    });
  }

  // ---- shutdown ----

  /** Closes the gateway and HTTP server. Destroy the discord.js Client first, or it will reconnect. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.gw.close();
    if (this.down) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- internals ----

  private where(ctx: InteractionContext): { guild: GuildRecord; channel: ChannelRecord; user: UserRecord } {
    const channel = ctx.channel !== undefined ? this.world.channel(ctx.channel, ctx.guild) : undefined;
    const guild = channel ? this.world.guild(channel.guildId) : this.world.guild(ctx.guild);
    const target = channel ?? guild.channels.find((c) => c.type === 0) ?? guild.channels[0];
    const user = ctx.user !== undefined ? this.world.user(ctx.user) : this.world.defaultMember(guild).user;
    if (!this.world.member(guild, user.id)) throw new Error(`user ${user.username} is not a member of guild ${guild.name}`);
    return { guild, channel: target, user };
  }

  private commandFor(command: string, ctx: InteractionContext) {
    const [name, ...subPath] = command.replace(/^\//, '').trim().split(/\s+/);
    const where = this.where(ctx);
    const stored = this.commandStore.find(name, where.guild.id);
    if (!stored) {
      const known = [...this.commandStore.list(null), ...this.commandStore.list(where.guild.id)].map((c) => c.name);
      throw new Error(
        `/${name} is not registered globally or in ${where.guild.name} (registered: ${known.join(', ') || 'none'}); register it first (the bot's registration, or standIn.seedCommands)`,
      );
    }
    if (!ctx.skipClientChecks) this.assertUserCanRun(stored, where);
    return { stored, subPath, where };
  }

  /** What Discord's client checks before it shows a command to a user. */
  private assertUserCanRun(command: StoredCommand, where: { guild: GuildRecord; channel: ChannelRecord; user: UserRecord }) {
    const perms = this.world.permissionsIn(where.channel, where.user.id);
    const label = `${where.user.username} cannot run /${command.name} in #${where.channel.name}`;
    if (command.contexts && !command.contexts.includes(0)) throw new Error(`${label}: the command is not available in guilds (contexts)`);
    if (!hasPermission(perms, PERMISSIONS.UseApplicationCommands)) throw new Error(`${label}: missing Use Application Commands`);
    if (command.defaultMemberPermissions !== null) {
      const needed = BigInt(command.defaultMemberPermissions);
      const guildPerms = this.world.guildPermissions(where.guild, where.user.id);
      if (needed === 0n ? !hasPermission(guildPerms, PERMISSIONS.Administrator) : !hasPermission(guildPerms, needed)) {
        throw new Error(`${label}: default_member_permissions ${command.defaultMemberPermissions} hides it from them`);
      }
    }
    if (command.nsfw && !where.channel.nsfw) throw new Error(`${label}: age-restricted commands only run in age-restricted channels`);
  }

  private commandData(stored: StoredCommand, built: { options: Json[]; resolved?: Json }): Json {
    return {
      id: stored.id,
      name: stored.name,
      type: stored.type,
      ...(stored.guildId ? { guild_id: stored.guildId } : {}),
      ...(built.options.length ? { options: built.options } : {}),
      ...(built.resolved ? { resolved: built.resolved } : {}),
    };
  }

  private optionResolver(where: { guild: GuildRecord; channel: ChannelRecord }) {
    const world = this.world;
    return {
      user: (ref: string) => {
        let user: UserRecord;
        try {
          user = world.user(ref);
        } catch {
          return undefined;
        }
        const member = world.member(where.guild, user.id);
        const { user: _omit, ...memberFields } = member ? memberJson(member) : { user: undefined };
        return {
          user: userJson(user) as unknown as Json,
          ...(member ? { member: { ...memberFields, permissions: world.permissionsIn(where.channel, user.id).toString() } } : {}),
        };
      },
      channel: (ref: string) => {
        try {
          const channel = world.channel(ref, where.guild.id);
          return { id: channel.id, name: channel.name, type: channel.type, nsfw: channel.nsfw, permissions: '0', parent_id: null };
        } catch {
          return undefined;
        }
      },
      role: (ref: string) => {
        const role = where.guild.roles.find((r) => r.id === ref || r.name === ref);
        return role && (roleJson(role) as unknown as Json);
      },
      attachment: (input: AttachmentInput) => {
        const stored = this.messageStore.storeAttachment(
          where.channel.id,
          {
            filename: input.filename,
            bytes: Buffer.from(input.bytes),
            ...(input.contentType !== undefined ? { contentType: input.contentType } : {}),
            ...(input.description !== undefined ? { description: input.description } : {}),
          },
          true,
        );
        return {
          id: stored.id,
          filename: stored.filename,
          size: stored.size,
          url: stored.url,
          proxy_url: stored.url,
          content_type: stored.contentType,
          ...(stored.width !== undefined ? { width: stored.width, height: stored.height } : {}),
          ...(stored.description !== undefined ? { description: stored.description } : {}),
          ephemeral: true,
        };
      },
    };
  }

  private visibleBotMessage(ref: string | ViewMessage, ctx: InteractionContext): StoredMessage {
    const id = typeof ref === 'string' ? ref : ref.id;
    const stored = this.messageStore.get(id);
    if (!stored || stored.deleted) throw new Error(`no message ${id}`);
    if (stored.author.id !== this.botUser.id) throw new Error(`message ${id} was not sent by the bot`);
    if (stored.ephemeral && ctx.user !== undefined && this.world.user(ctx.user).id !== stored.interaction?.userId) {
      throw new Error(`message ${id} is ephemeral: only ${stored.interaction?.userId} can see it`);
    }
    return stored;
  }

  private ephemeralOwner(message: StoredMessage): string | undefined {
    return message.ephemeral ? message.interaction?.userId : undefined;
  }

  private async dispatch(
    kind: InteractionKind,
    type: number,
    where: { guild: GuildRecord; channel: ChannelRecord; user: UserRecord },
    ctx: InteractionContext,
    extra: { data: Json; commandName?: string; message?: StoredMessage },
  ): Promise<InteractionHandle> {
    const { guild, user } = where;
    if (ctx.dm) return this.dispatchDm(kind, type, user, ctx, extra);
    const { channel } = where;
    // The shard that gets this guild's events must be connected (with one shard: the bot).
    await this.signal.waitFor(() => this.gw.sessionFor(guild.id), {
      timeoutMs: ctx.connectTimeoutMs ?? 5000,
      message: `the bot's shard for guild ${guild.name} to identify on the gateway`,
    });
    const member = this.world.member(guild, user.id);
    if (!member) throw new Error(`user ${user.username} is not a member of ${guild.name}`);
    const memberPerms = ctx.memberPermissions !== undefined ? permissionsOf(ctx.memberPermissions) : this.world.permissionsIn(channel, user.id);
    const appPerms = ctx.appPermissions !== undefined ? permissionsOf(ctx.appPermissions) : this.world.permissionsIn(channel, this.botUser.id);
    const sizeLimit = ctx.attachmentSizeLimit ?? guild.attachmentSizeLimit;
    const id = this.ids.next();
    const token = newInteractionToken(id);
    const payload: Json = {
      id,
      application_id: this.applicationId,
      type,
      data: extra.data,
      guild: { id: guild.id, locale: guild.preferredLocale, features: [] },
      guild_id: guild.id,
      guild_locale: guild.preferredLocale,
      channel: channelJson(channel, { permissions: memberPerms.toString() }),
      channel_id: channel.id,
      member: { ...memberJson(member), permissions: memberPerms.toString() },
      token,
      version: 1,
      app_permissions: appPerms.toString(),
      locale: ctx.locale ?? 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guild.id },
      context: 0,
      attachment_size_limit: sizeLimit,
      ...(extra.message ? { message: this.messageStore.toApi(extra.message) } : {}),
    };
    return this.deliverInteraction({ id, token, kind, type, channel, user, payload, sizeLimit }, extra);
  }

  /** Records an interaction the stand-in made up and sends it to the bot over the gateway. */
  private deliverInteraction(
    i: { id: string; token: string; kind: InteractionKind; type: number; channel: ChannelRecord; user: UserRecord; payload: Json; sizeLimit: number },
    extra: { commandName?: string; message?: StoredMessage },
  ): InteractionHandle {
    const record: InteractionRecord = {
      id: i.id,
      token: i.token,
      kind: i.kind,
      type: i.type,
      channel: i.channel,
      user: i.user,
      ...(extra.commandName ? { commandName: extra.commandName } : {}),
      payload: i.payload,
      createdAt: this.clock.now(),
      attachmentSizeLimit: i.sizeLimit,
      ...(extra.message ? { componentMessageId: extra.message.id } : {}),
      callbacks: [],
      thinking: false,
      followUpIds: [],
    };
    const handle = this.interactionStore.add(record);
    this.gw.dispatch('INTERACTION_CREATE', i.payload);
    return handle;
  }

  /** The user's DM channel with the bot (made on first use). */
  private dmChannel(user: UserRecord): ChannelRecord {
    let channel = this.dmChannels.get(user.id);
    if (!channel) {
      channel = { id: this.ids.next(), guildId: '', name: `dm-${user.username}`, type: 1, nsfw: false, position: 0, topic: null, overwrites: [] };
      this.dmChannels.set(user.id, channel);
    }
    return channel;
  }

  private async dispatchDm(
    kind: InteractionKind,
    type: number,
    user: UserRecord,
    ctx: InteractionContext,
    extra: { data: Json; commandName?: string; message?: StoredMessage },
  ): Promise<InteractionHandle> {
    await this.signal.waitFor(() => this.gw.sessionFor(undefined), {
      timeoutMs: ctx.connectTimeoutMs ?? 5000,
      message: "the bot's shard for DMs to identify on the gateway",
    });
    const channel = this.dmChannel(user);
    const sizeLimit = ctx.attachmentSizeLimit ?? this.options.attachmentSizeLimit ?? 10 * 1024 * 1024;
    const id = this.ids.next();
    const token = newInteractionToken(id);
    const payload: Json = {
      id,
      application_id: this.applicationId,
      type,
      data: extra.data,
      channel: { id: channel.id, type: 1, recipients: [userJson(user)] },
      channel_id: channel.id,
      user: userJson(user) as unknown as Json,
      token,
      version: 1,
      app_permissions: permissionsOf(ctx.appPermissions ?? ['ViewChannel', 'SendMessages', 'AttachFiles', 'EmbedLinks', 'ReadMessageHistory']).toString(),
      locale: ctx.locale ?? 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '1': user.id },
      context: 1,
      attachment_size_limit: sizeLimit,
    };
    // Its payload carries no component message, so neither does the record.
    return this.deliverInteraction(
      { id, token, kind, type, channel, user, payload, sizeLimit },
      { ...(extra.commandName ? { commandName: extra.commandName } : {}) },
    );
  }

  private onMessageEvent(event: MessageEvent, message: StoredMessage): void {
    // DM messages (no guild) reach no guild's gateway events here.
    if (!message.ephemeral && message.channel.guildId !== '') {
      const needs = GatewayIntents.GuildMessages;
      if (event === 'delete') {
        this.gw.dispatch('MESSAGE_DELETE', { id: message.id, channel_id: message.channel.id, guild_id: message.channel.guildId }, needs);
      } else {
        const session = this.gw.sessionFor(message.channel.guildId);
        let d: Json = { ...this.messageStore.toApi(message), guild_id: message.channel.guildId };
        const member = this.world.member(this.world.guild(message.channel.guildId), message.author.id);
        if (member) {
          const { user: _omit, ...memberFields } = memberJson(member);
          d.member = memberFields;
        }
        const mentionsBot = (message.state.content ?? '').includes(`<@${this.botUser.id}>`);
        if (session && message.author.id !== this.botUser.id && !mentionsBot && (session.intents & GatewayIntents.MessageContent) === 0) {
          // Without the privileged intent, other users' message content arrives empty.
          d = { ...d, content: '', embeds: [], attachments: [], components: [] };
        }
        this.gw.dispatch(event === 'create' ? 'MESSAGE_CREATE' : 'MESSAGE_UPDATE', d, needs);
      }
    }
    this.signal.notify();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname.startsWith('/attachments/')) return this.serveAttachment(url.pathname, method, res);
    const api = API_PREFIX.exec(url.pathname);
    const raw = await readRaw(req);
    // Clients percent-encode some segments (discord.js sends %40original); match on decoded ones.
    const path = (api ? api[2] : url.pathname).split('/').map(safeDecode).join('/');
    const record: RecordedRequest = {
      seq: this.recorded.length + 1,
      at: this.clock.now(),
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
      json: undefined,
      files: [],
      status: 0,
      responseHeaders: {},
    };
    this.recorded.push(record);
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      record.response = json;
      const body = json === undefined ? undefined : JSON.stringify(json);
      const allHeaders: Record<string, string> = {
        ...headers,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        Via: '1.1 discord-stand-in',
      };
      record.responseHeaders = Object.fromEntries(Object.entries(allHeaders).map(([k, v]) => [k.toLowerCase(), v]));
      res.writeHead(status, allHeaders);
      res.end(body);
      this.options.log?.(`${method} ${path} → ${status}`);
      this.signal.notify();
    };

    let rateHeaders: Record<string, string> = {};
    const failure = api ? this.serverFailures.find((f) => f.remaining > 0 && f.matches(method, path)) : undefined;
    if (failure) {
      failure.remaining--;
      record.route = 'injected server error';
      return send(failure.status, { message: `${failure.status}: Server error (injected)`, code: 0 });
    }
    try {
      if (!api) throw ApiErrors.notFound();
      if (api[1] !== '10') throw ApiErrors.invalidApiVersion();
      let body: ParsedBody = { kind: 'none', json: undefined, files: [], fields: {} };
      let bodyError: unknown;
      try {
        body = await parseBody(raw, req.headers['content-type']);
        record.json = body.json;
        record.files = body.files.map((f) => ({ field: f.field, filename: f.filename, contentType: f.contentType, size: f.bytes.length, bytes: f.bytes }));
      } catch (error) {
        bodyError = error;
      }
      const matched = matchRoute(this.routes, method, path);
      if (matched === undefined) throw ApiErrors.notFound();
      if (matched === 'methodMismatch') throw ApiErrors.methodNotAllowed();
      record.route = `${method} ${matched.route.template}`;
      if (matched.route.auth && req.headers.authorization !== `Bot ${this.token}`) throw ApiErrors.unauthorized();
      const decision = this.limiter.consume({ method, path, template: matched.route.template, major: majorParameters(matched.params) });
      rateHeaders = decision.headers;
      if (decision.limited) {
        record.rateLimited = decision.limited.injected ? 'injected' : 'exhausted';
        const retryAfter = Number((decision.limited.retryAfterMs / 1000).toFixed(3));
        return send(429, { message: 'You are being rate limited.', retry_after: retryAfter, global: decision.limited.global, code: 0 }, rateHeaders);
      }
      if (bodyError) throw bodyError;
      const result = matched.route.handle({ params: matched.params, query: url.searchParams, body });
      send(result.status, result.json, rateHeaders);
    } catch (error) {
      if (error instanceof DiscordApiFailure) {
        send(error.status, error.body, rateHeaders);
        return;
      }
      throw error;
    }
  }

  private serveAttachment(pathname: string, method: string, res: ServerResponse): void {
    const [, , , attachmentId] = pathname.split('/');
    const attachment = method === 'GET' || method === 'HEAD' ? this.messageStore.attachment(attachmentId ?? '') : undefined;
    if (!attachment) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('404: Not Found');
      return;
    }
    res.writeHead(200, { 'Content-Type': attachment.contentType, 'Content-Length': attachment.size });
    res.end(method === 'HEAD' ? undefined : attachment.bytes);
  }

  private internalError(error: unknown, res: ServerResponse): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.internalErrors.push(err);
    this.options.log?.(`stand-in internal error: ${err.stack ?? err.message}`);
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: '500: Internal Server Error', code: 0 }));
    }
    const last = this.recorded[this.recorded.length - 1];
    if (last && last.status === 0) last.status = 500;
    this.signal.notify();
  }

  /** A snapshot for timeout errors: the last requests and messages. */
  private describe(): string {
    const requests = this.recorded.slice(-8).map((r) => `  ${r.method} ${r.path} → ${r.status}${r.status >= 400 ? ` ${JSON.stringify(r.response)}` : ''}`);
    const messages = this.messageStore
      .all()
      .slice(-6)
      .map((m) => {
        const v = this.messageStore.toView(m);
        const flags = [v.ephemeral && 'ephemeral', v.loading && 'thinking', v.deleted && 'deleted'].filter(Boolean).join(',');
        return `  #${m.channel.name} ${v.author.username}${flags ? ` [${flags}]` : ''}: ${JSON.stringify(v.content.slice(0, 80))} attachments=${v.attachments.length} buttons=${v.buttons.length} edits=${v.edits}`;
      });
    return [
      `gateway: ${this.gw.activeSession() ? 'bot connected' : 'no bot connected'}`,
      `last requests:${requests.length ? `\n${requests.join('\n')}` : ' none'}`,
      `last messages:${messages.length ? `\n${messages.join('\n')}` : ' none'}`,
    ].join('\n');
  }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

export { MessageFlags };

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { guildCreateJson, memberJson, userJson, type Json } from './wire.js';
import type { World } from './world.js';

/** The gateway websocket: HELLO, IDENTIFY/RESUME, heartbeats, and dispatching events with sequence numbers. */

export const GatewayIntents = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildPresences: 1 << 8,
  GuildMessages: 1 << 9,
  GuildMessageTyping: 1 << 11,
  MessageContent: 1 << 15,
} as const;

const VALID_INTENTS = 0x1ffff | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);
const PRIVILEGED = GatewayIntents.GuildMembers | GatewayIntents.GuildPresences | GatewayIntents.MessageContent;
const REPLAY_BUFFER = 1000;
/** Discord's cap on shards for one bot (large bot sharding goes further; not modelled). */
const MAX_SHARDS = 1024;

/** Discord's rule: a guild's events go to shard `(guild_id >> 22) % num_shards`; DMs to shard 0. */
export function shardOf(guildId: string | undefined, numShards: number): number {
  if (guildId === undefined || numShards <= 1) return 0;
  return Number((BigInt(guildId) >> 22n) % BigInt(numShards));
}

const Op = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;

export const CloseCodes = {
  UnknownError: 4000,
  UnknownOpcode: 4001,
  DecodeError: 4002,
  NotAuthenticated: 4003,
  AuthenticationFailed: 4004,
  AlreadyAuthenticated: 4005,
  InvalidShard: 4010,
  InvalidApiVersion: 4012,
  InvalidIntents: 4013,
  DisallowedIntents: 4014,
} as const;

const identifySchema = z.looseObject({
  token: z.string(),
  properties: z.looseObject({ os: z.string(), browser: z.string(), device: z.string() }),
  intents: z.number().int().min(0),
  shard: z.tuple([z.number().int(), z.number().int()]).optional(),
  compress: z.boolean().optional(),
  large_threshold: z.number().int().optional(),
  presence: z.looseObject({}).optional(),
});
const resumeSchema = z.looseObject({ token: z.string(), session_id: z.string(), seq: z.number().int().nullable() });
const requestMembersSchema = z.looseObject({
  guild_id: z.string(),
  query: z.string().optional(),
  limit: z.number().int().min(0).optional(),
  user_ids: z.union([z.string(), z.array(z.string())]).optional(),
  nonce: z.string().optional(),
});
const payloadSchema = z.looseObject({ op: z.number().int(), d: z.unknown() });

export interface IdentifyRecord {
  sessionId: string;
  intents: number;
  properties: Json;
  shard?: [number, number];
  at: number;
}

export interface DispatchRecord {
  sessionId: string;
  t: string;
  s: number;
  d: unknown;
  at: number;
}

export interface GatewaySession {
  readonly id: string;
  readonly intents: number;
  /** `[shard_id, num_shards]` from IDENTIFY; `[0, 1]` when the client sent none. */
  readonly shard: readonly [number, number];
  seq: number;
  connected: boolean;
  resumes: number;
  heartbeats: number;
  presence?: Json;
}

interface SessionState extends GatewaySession {
  buffer: { t: string; s: number; d: unknown }[];
  connection?: Connection;
}

class Connection {
  session?: SessionState;
  private deflate?: zlib.Deflate;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    compress: boolean,
  ) {
    if (compress) this.deflate = zlib.createDeflate({ chunkSize: 65535 });
  }

  send(payload: Json): void {
    const text = JSON.stringify(payload);
    const deflate = this.deflate;
    if (!deflate) {
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(text);
      return;
    }
    // zlib-stream: one deflate context per connection, each payload ends in a sync flush.
    this.queue = this.queue.then(
      () =>
        new Promise<void>((resolve) => {
          const chunks: Buffer[] = [];
          const onData = (chunk: Buffer) => chunks.push(chunk);
          deflate.on('data', onData);
          deflate.write(text);
          deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            deflate.off('data', onData);
            if (this.ws.readyState === this.ws.OPEN) this.ws.send(Buffer.concat(chunks));
            resolve();
          });
        }),
    );
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
    this.deflate?.close();
  }
}

export interface GatewayOptions {
  world: World;
  token: string;
  applicationFlags: number;
  privilegedIntents: number;
  heartbeatIntervalMs: number;
  url: () => string;
  /** What GET /gateway/bot recommends; clients may identify with any shard count. */
  recommendedShards: number;
  now: () => number;
  notify: () => void;
  log: (line: string) => void;
}

export class Gateway {
  readonly identifies: IdentifyRecord[] = [];
  readonly dispatches: DispatchRecord[] = [];
  /** Close codes the stand-in sent, in order (e.g. 4004 for a bad token). */
  readonly closeCodes: number[] = [];
  private readonly sessions = new Map<string, SessionState>();
  private readonly connections = new Set<Connection>();
  private readonly wss = new WebSocketServer({ noServer: true });

  constructor(private readonly opts: GatewayOptions) {}

  /** Sessions in creation order. */
  allSessions(): GatewaySession[] {
    return [...this.sessions.values()];
  }

  /** The newest identified session that has a live connection. */
  activeSession(): GatewaySession | undefined {
    return [...this.sessions.values()].reverse().find((s) => s.connected);
  }

  /** The newest connected session whose shard receives `guildId`'s events (DMs: shard 0). */
  sessionFor(guildId: string | undefined): GatewaySession | undefined {
    return this.sessionsFor(guildId).find((s) => s.connected);
  }

  /** Sessions (newest first) of the shard that gets `guildId`'s events, for any shard count. */
  private sessionsFor(guildId: string | undefined): SessionState[] {
    return [...this.sessions.values()].reverse().filter((s) => shardOf(guildId, s.shard[1]) === s.shard[0]);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
    const compress = query.get('compress');
    const conn = new Connection(ws, compress === 'zlib-stream');
    this.connections.add(conn);
    ws.on('close', (code) => {
      this.connections.delete(conn);
      const session = conn.session;
      if (session?.connection === conn) {
        session.connection = undefined;
        session.connected = false;
        // Discord: a client closing with 1000/1001 ends its session; other codes keep it resumable.
        if (code === 1000 || code === 1001) this.sessions.delete(session.id);
        this.opts.notify();
      }
    });
    ws.on('error', () => undefined);
    const version = query.get('v');
    if (version !== null && version !== '10') return this.closeWith(conn, CloseCodes.InvalidApiVersion, 'Invalid API version.');
    const encoding = query.get('encoding') ?? 'json';
    if (encoding !== 'json') return this.closeWith(conn, CloseCodes.DecodeError, `The stand-in only speaks encoding=json, not ${encoding}.`);
    if (compress !== null && compress !== 'zlib-stream') return this.closeWith(conn, CloseCodes.DecodeError, `Unsupported compression ${compress}.`);
    ws.on('message', (data, isBinary) => this.onMessage(conn, data, isBinary));
    conn.send({ op: Op.Hello, d: { heartbeat_interval: this.opts.heartbeatIntervalMs, _trace: ['["stand-in-gateway"]'] }, s: null, t: null });
  }

  private closeWith(conn: Connection, code: number, reason: string): void {
    this.closeCodes.push(code);
    this.opts.log(`gateway close ${code} ${reason}`);
    conn.close(code, reason);
    this.opts.notify();
  }

  private onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    let payload: z.output<typeof payloadSchema>;
    try {
      const text = isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString();
      payload = payloadSchema.parse(JSON.parse(text));
    } catch {
      return this.closeWith(conn, CloseCodes.DecodeError, 'Error while decoding payload.');
    }
    const { op, d } = payload;
    if (!conn.session && op !== Op.Heartbeat && op !== Op.Identify && op !== Op.Resume) {
      return this.closeWith(conn, CloseCodes.NotAuthenticated, 'Not authenticated.');
    }
    switch (op) {
      case Op.Heartbeat:
        if (conn.session) conn.session.heartbeats += 1;
        conn.send({ op: Op.HeartbeatAck, d: null, s: null, t: null });
        this.opts.notify();
        return;
      case Op.Identify:
        return this.identify(conn, d);
      case Op.Resume:
        return this.resume(conn, d);
      case Op.PresenceUpdate:
        if (conn.session && d && typeof d === 'object') conn.session.presence = d as Json;
        this.opts.notify();
        return;
      case Op.VoiceStateUpdate:
        return;
      case Op.RequestGuildMembers:
        return this.requestMembers(conn, d);
      default:
        return this.closeWith(conn, CloseCodes.UnknownOpcode, 'Unknown opcode.');
    }
  }

  private identify(conn: Connection, d: unknown): void {
    if (conn.session) return this.closeWith(conn, CloseCodes.AlreadyAuthenticated, 'Already authenticated.');
    const parsed = identifySchema.safeParse(d);
    if (!parsed.success) return this.closeWith(conn, CloseCodes.DecodeError, 'Error while decoding payload.');
    const identify = parsed.data;
    if (identify.token !== this.opts.token) return this.closeWith(conn, CloseCodes.AuthenticationFailed, 'Authentication failed.');
    const shard: [number, number] = identify.shard ?? [0, 1];
    if (shard[1] < 1 || shard[1] > MAX_SHARDS || shard[0] < 0 || shard[0] >= shard[1]) {
      return this.closeWith(conn, CloseCodes.InvalidShard, 'Invalid shard.');
    }
    if ((identify.intents & ~VALID_INTENTS) !== 0) return this.closeWith(conn, CloseCodes.InvalidIntents, 'Invalid intent(s).');
    if ((identify.intents & PRIVILEGED & ~this.opts.privilegedIntents) !== 0) {
      return this.closeWith(conn, CloseCodes.DisallowedIntents, 'Disallowed intent(s).');
    }
    const session: SessionState = {
      id: randomBytes(16).toString('hex'),
      intents: identify.intents,
      shard,
      seq: 0,
      connected: true,
      resumes: 0,
      heartbeats: 0,
      ...(identify.presence ? { presence: identify.presence } : {}),
      buffer: [],
      connection: conn,
    };
    conn.session = session;
    this.sessions.set(session.id, session);
    this.identifies.push({
      sessionId: session.id,
      intents: identify.intents,
      properties: identify.properties,
      ...(identify.shard ? { shard: identify.shard } : {}),
      at: this.opts.now(),
    });
    const { world } = this.opts;
    // A shard is told about, and gets GUILD_CREATE for, its own guilds only.
    const guilds = world.guilds.filter((g) => shardOf(g.id, shard[1]) === shard[0]);
    this.send(session, 'READY', {
      v: 10,
      user: { ...userJson(world.bot), verified: true, mfa_enabled: false, email: null },
      user_settings: {},
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      guild_join_requests: [],
      relationships: [],
      private_channels: [],
      presences: [],
      session_id: session.id,
      session_type: 'normal',
      resume_gateway_url: this.opts.url(),
      shard,
      application: { id: world.applicationId, flags: this.opts.applicationFlags },
      geo_ordered_rtc_regions: [],
      _trace: ['["stand-in-gateway"]'],
    });
    if (identify.intents & GatewayIntents.Guilds) {
      for (const guild of guilds) this.send(session, 'GUILD_CREATE', guildCreateJson(guild));
    }
  }

  private resume(conn: Connection, d: unknown): void {
    const parsed = resumeSchema.safeParse(d);
    if (!parsed.success) return this.closeWith(conn, CloseCodes.DecodeError, 'Error while decoding payload.');
    if (parsed.data.token !== this.opts.token) return this.closeWith(conn, CloseCodes.AuthenticationFailed, 'Authentication failed.');
    const session = this.sessions.get(parsed.data.session_id);
    const seq = parsed.data.seq ?? 0;
    const oldest = session?.buffer[0]?.s ?? 1;
    if (!session || seq > session.seq || seq + 1 < oldest) {
      conn.send({ op: Op.InvalidSession, d: false, s: null, t: null });
      return;
    }
    if (session.connection && session.connection !== conn) session.connection.close(CloseCodes.UnknownError, 'Session resumed elsewhere.');
    session.connection = conn;
    session.connected = true;
    session.resumes += 1;
    conn.session = session;
    for (const event of session.buffer.filter((e) => e.s > seq)) {
      conn.send({ op: Op.Dispatch, t: event.t, s: event.s, d: event.d });
    }
    this.send(session, 'RESUMED', { _trace: ['["stand-in-gateway"]'] });
  }

  private requestMembers(conn: Connection, d: unknown): void {
    const session = conn.session;
    const parsed = requestMembersSchema.safeParse(d);
    if (!session || !parsed.success) return this.closeWith(conn, CloseCodes.DecodeError, 'Error while decoding payload.');
    const { guild_id: guildId, query, limit, user_ids: userIds, nonce } = parsed.data;
    const guild = this.opts.world.guilds.find((g) => g.id === guildId);
    // Discord ignores requests for guilds of another shard.
    if (!guild || shardOf(guild.id, session.shard[1]) !== session.shard[0]) return;
    const wanted = userIds === undefined ? undefined : Array.isArray(userIds) ? userIds : [userIds];
    if (wanted === undefined && !query && (session.intents & GatewayIntents.GuildMembers) === 0) {
      return this.closeWith(conn, CloseCodes.DisallowedIntents, 'Requesting all members needs the GUILD_MEMBERS intent.');
    }
    let members = guild.members.filter((m) => (wanted ? wanted.includes(m.user.id) : m.user.username.startsWith((query ?? '').toLowerCase())));
    if (limit) members = members.slice(0, limit);
    this.send(session, 'GUILD_MEMBERS_CHUNK', {
      guild_id: guildId,
      members: members.map(memberJson),
      chunk_index: 0,
      chunk_count: 1,
      not_found: wanted ? wanted.filter((id) => !guild.members.some((m) => m.user.id === id)) : [],
      ...(nonce ? { nonce } : {}),
    });
  }

  private send(session: SessionState, t: string, d: unknown): number {
    session.seq += 1;
    const s = session.seq;
    session.buffer.push({ t, s, d });
    if (session.buffer.length > REPLAY_BUFFER) session.buffer.shift();
    this.dispatches.push({ sessionId: session.id, t, s, d, at: this.opts.now() });
    this.opts.log(`gateway → ${t} s=${s}`);
    session.connection?.send({ op: Op.Dispatch, t, s, d });
    this.opts.notify();
    return s;
  }

  /**
   * Sends a dispatch to the session of the shard that gets it: `d.guild_id`'s shard, shard 0
   * without one. The newest such session; events for a session that is reconnecting are
   * buffered and replayed on RESUME, as Discord does. Returns false when no such shard has identified.
   */
  dispatch(t: string, d: unknown, needsIntent = 0): boolean {
    const guildId = d && typeof d === 'object' && typeof (d as { guild_id?: unknown }).guild_id === 'string' ? (d as { guild_id: string }).guild_id : undefined;
    const candidates = this.sessionsFor(guildId);
    const session = candidates.find((s) => s.connected) ?? candidates[0];
    if (!session) return false;
    if (needsIntent && (session.intents & needsIntent) === 0) return true;
    this.send(session, t, d);
    return true;
  }

  /** Asks the bot to reconnect and resume (op 7), as Discord does during maintenance. */
  requestReconnect(shard?: number): void {
    const conn = this.requireConnection(shard);
    conn.send({ op: Op.Reconnect, d: null, s: null, t: null });
  }

  /** Sends INVALID_SESSION; with resumable=false the bot must identify again. */
  invalidateSession(resumable: boolean, shard?: number): void {
    const conn = this.requireConnection(shard);
    if (!resumable && conn.session) {
      this.sessions.delete(conn.session.id);
      conn.session.connected = false;
      conn.session = undefined;
    }
    conn.send({ op: Op.InvalidSession, d: resumable, s: null, t: null });
  }

  /** Drops the bot's connection with `code` (4000 = resumable unknown error). */
  dropConnection(code: number = CloseCodes.UnknownError, shard?: number): void {
    this.closeWith(this.requireConnection(shard), code, 'Dropped by the test.');
  }

  /** The newest live connection, or the newest of shard `shard` when given. */
  private requireConnection(shard?: number): Connection {
    const session = [...this.sessions.values()].reverse().find((s) => s.connected && (shard === undefined || s.shard[0] === shard));
    if (!session?.connection) throw new Error(shard === undefined ? 'no bot is connected to the gateway' : `no bot is connected as shard ${shard}`);
    return session.connection;
  }

  /** Cuts every connection at the TCP level (an outage); sessions stay resumable. */
  disconnectAll(): void {
    for (const conn of this.connections) conn.ws.terminate();
  }

  close(): void {
    for (const conn of this.connections) {
      conn.ws.terminate();
      conn.close(1001, 'Stand-in shutting down');
    }
    this.connections.clear();
    this.wss.close();
  }
}

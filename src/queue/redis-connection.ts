// Redis clients for BullMQ. BullMQ leaves the driver to the application (a peer dependency):
// we use ioredis, loaded only when QUEUE_BACKEND=redis so the local backend never needs it.

/** The part of an ioredis client this project calls directly (BullMQ takes the whole client). */
export interface RedisClient {
  hset(key: string, field: string, value: string): Promise<number>;
  hdel(key: string, ...fields: string[]): Promise<number>;
  hgetall(key: string): Promise<Record<string, string>>;
  sadd(key: string, ...members: string[]): Promise<number>;
  smembers(key: string): Promise<string[]>;
  ping(): Promise<string>;
  quit(): Promise<string>;
  disconnect(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClient;

let ctor: Promise<RedisConstructor> | undefined;

async function loadIoredis(): Promise<RedisConstructor> {
  // A variable specifier keeps TypeScript from requiring ioredis's types when it is absent.
  const name = 'ioredis';
  try {
    const mod = (await import(name)) as { Redis?: RedisConstructor; default?: RedisConstructor };
    const found = mod.Redis ?? mod.default;
    if (!found) throw new Error('ioredis exports no Redis class');
    return found;
  } catch (err) {
    throw new Error(
      `QUEUE_BACKEND=redis needs the "ioredis" package (BullMQ's Redis driver): run \`npm install ioredis\`. (${(err as Error).message.split('\n')[0]})`,
      { cause: err },
    );
  }
}

export interface RedisConnector {
  /** A new connection. BullMQ wants one per Queue, Worker and QueueEvents (blocking reads). */
  connect(): RedisClient;
  /** Closes every connection made here (BullMQ leaves connections it was given open). */
  closeAll(): Promise<void>;
}

/** Connections to `url`, with `maxRetriesPerRequest: null` so commands wait out a reconnect. */
export async function redisConnector(url: string, onError: (err: Error) => void): Promise<RedisConnector> {
  ctor ??= loadIoredis();
  const Redis = await ctor;
  const made: RedisClient[] = [];
  return {
    connect() {
      const client = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
      client.on('error', onError);
      made.push(client);
      return client;
    },
    async closeAll() {
      await Promise.all(made.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

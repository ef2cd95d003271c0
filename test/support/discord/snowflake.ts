/** Discord snowflakes: 42 bits of ms since 2015-01-01, then worker/process/increment bits. */
const DISCORD_EPOCH = 1_420_070_400_000n;

export class SnowflakeGenerator {
  private increment = 0n;

  constructor(private readonly now: () => number) {}

  next(): string {
    const ms = BigInt(Math.max(Math.floor(this.now()), Number(DISCORD_EPOCH)));
    this.increment = (this.increment + 1n) & 0xfffn;
    // worker 1, process 0: fixed, so ids stay unique through the increment alone.
    return (((ms - DISCORD_EPOCH) << 22n) | (1n << 17n) | this.increment).toString();
  }
}

export function snowflakeTimestamp(id: string): number {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

export function isSnowflake(value: unknown): value is string {
  return typeof value === 'string' && /^\d{15,21}$/.test(value);
}

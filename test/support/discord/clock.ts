/**
 * The stand-in's notion of "now". Real time by default, so latencies are real, plus an
 * offset that tests move forward to simulate 15-minute token expiry or 1-hour-old messages
 * without waiting.
 */
export interface StandInClock {
  /** Milliseconds since the Unix epoch, as Discord's servers would see it. */
  now(): number;
  /** Moves the clock forward (never backward) by `ms`. */
  advance(ms: number): void;
}

export function createClock(base: () => number = Date.now): StandInClock {
  let offsetMs = 0;
  return {
    now: () => base() + offsetMs,
    advance(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock.advance expects a non-negative number of ms, got ${ms}`);
      offsetMs += ms;
    },
  };
}

/** Lets tests await "something became true" about the stand-in's state without sleeping. */

export type Probe<T> = () => T | undefined | null | false;

export interface WaitOptions {
  timeoutMs?: number;
  /** Names what was awaited, for the timeout error. */
  message?: string;
}

const POLL_MS = 20;

export class ChangeSignal {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly describeState: () => string) {}

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves with the probe's first truthy result. The probe runs on every state change and
   * every 20 ms (for clock-driven conditions); a probe that throws counts as "not yet".
   */
  waitFor<T>(probe: Probe<T>, opts: WaitOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise<T>((resolve, reject) => {
      let lastError: unknown;
      let done = false;
      const finish = () => {
        done = true;
        this.listeners.delete(check);
        clearInterval(poll);
        clearTimeout(timer);
      };
      const check = () => {
        if (done) return;
        try {
          const value = probe();
          if (value !== undefined && value !== null && value !== false) {
            finish();
            resolve(value);
          }
        } catch (error) {
          lastError = error;
        }
      };
      const poll = setInterval(check, POLL_MS);
      const timer = setTimeout(() => {
        finish();
        const what = opts.message ? ` waiting for ${opts.message}` : '';
        const why = lastError instanceof Error ? `\nlast probe error: ${lastError.message}` : '';
        reject(new Error(`Discord stand-in: timed out after ${timeoutMs} ms${what}${why}\n${this.describeState()}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}

// One job's message edits, throttled and in order: the first update goes out at once, later
// ones `intervalMs` after the previous edit completed (Discord allows about 5 edits per 5 s per channel, shared by
// every job there), and only the newest pending state is sent. Rendering is lazy, so preview
// images are encoded only for edits that are actually sent. `finish` supersedes everything.

export type EditSender = () => Promise<void>;

export class ThrottledEditor {
  private pending?: EditSender;
  private timer?: NodeJS.Timeout;
  private inflight?: Promise<void>;
  private lastDone = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Queues `send` as the newest state; an older pending one is dropped. */
  update(send: EditSender): void {
    if (this.closed) return;
    this.pending = send;
    if (!this.timer && !this.inflight) this.schedule();
  }

  /** Drops what is pending, waits for the edit in flight, then runs `last` (the final state). */
  async finish<T>(last: () => Promise<T>): Promise<T> {
    this.closed = true;
    this.pending = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
    return last();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private schedule(): void {
    const wait = Math.max(0, this.lastDone + this.intervalMs - this.now());
    this.timer = setTimeout(() => this.flush(), wait);
    this.timer.unref?.();
  }

  private flush(): void {
    this.timer = undefined;
    const send = this.pending;
    this.pending = undefined;
    if (!send || this.closed) return;
    this.inflight = send()
      .catch(this.onError)
      .finally(() => {
        this.lastDone = this.now();
        this.inflight = undefined;
        if (this.pending && !this.closed) this.schedule();
      });
  }
}

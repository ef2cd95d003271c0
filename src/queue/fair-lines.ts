// Waiting jobs, in the order they should start: one FIFO line per user, served round-robin
// so that a user with 20 jobs does not hold back one with 1. Whoever was served longest ago
// goes next (a newcomer first). Jobs put "in front" (resumed or retried) go before all lines.

export interface Waiting {
  id: string;
  userId: string;
  seq: number;
}

export class FairLines<J extends Waiting> {
  private readonly front: J[] = [];
  private readonly lines = new Map<string, J[]>();
  private readonly lastServed = new Map<string, number>();
  private serveCounter = 0;

  get size(): number {
    let n = this.front.length;
    for (const line of this.lines.values()) n += line.length;
    return n;
  }

  countForUser(userId: string): number {
    return (this.lines.get(userId)?.length ?? 0) + this.front.filter((j) => j.userId === userId).length;
  }

  push(job: J): void {
    const line = this.lines.get(job.userId);
    if (line) line.push(job);
    else this.lines.set(job.userId, [job]);
  }

  pushFront(job: J): void {
    this.front.push(job);
  }

  remove(jobId: string): J | undefined {
    const i = this.front.findIndex((j) => j.id === jobId);
    if (i >= 0) return this.front.splice(i, 1)[0];
    for (const [user, line] of this.lines) {
      const k = line.findIndex((j) => j.id === jobId);
      if (k >= 0) {
        const [job] = line.splice(k, 1);
        if (line.length === 0) this.lines.delete(user);
        return job;
      }
    }
    return undefined;
  }

  /** Takes the next job to start. */
  shift(): J | undefined {
    if (this.front.length > 0) return this.front.shift();
    const user = this.nextUser(this.lastServed, this.lines);
    if (user === undefined) return undefined;
    const line = this.lines.get(user)!;
    const job = line.shift()!;
    if (line.length === 0) this.lines.delete(user);
    this.lastServed.set(user, ++this.serveCounter);
    return job;
  }

  /**
   * Every waiting job in the order shift() would return them, if nothing else arrived. In
   * O(n + u log u) for n jobs of u users: after its turn a user's "last served" is newer than
   * anyone's, so once the users are sorted by (last served, first job) the turns are plain
   * round-robin. (Calling nextUser for every job was O(n·u): a second per 1000-user burst.)
   */
  ordered(): J[] {
    const out = [...this.front];
    const turns = [...this.lines.entries()]
      .map(([user, line]) => ({ line, served: this.lastServed.get(user) ?? 0, next: 0 }))
      .sort((a, b) => a.served - b.served || a.line[0].seq - b.line[0].seq);
    for (let i = 0; i < turns.length; i++) {
      const turn = turns[i];
      out.push(turn.line[turn.next++]);
      if (turn.next < turn.line.length) turns.push(turn);
    }
    return out;
  }

  private nextUser(served: Map<string, number>, lines: Map<string, J[]>): string | undefined {
    let best: string | undefined;
    let bestServed = Infinity;
    let bestSeq = Infinity;
    for (const [user, line] of lines) {
      const s = served.get(user) ?? 0;
      const seq = line[0].seq;
      if (s < bestServed || (s === bestServed && seq < bestSeq)) {
        best = user;
        bestServed = s;
        bestSeq = seq;
      }
    }
    return best;
  }
}

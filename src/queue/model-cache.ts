// Least-recently-used set of loaded models on one device: a count cap, and optionally a
// memory budget estimated from the model's file sizes (weights dominate what a session holds).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Disposable {
  dispose(): Promise<void>;
}

export function folderSizeMb(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) bytes += statSync(p).size;
    }
  };
  try {
    walk(dir);
  } catch {
    return 0;
  }
  return bytes / 1_048_576;
}

export class ModelCache<T extends Disposable> {
  private readonly entries = new Map<string, { value: Promise<T>; sizeMb: number }>();

  constructor(
    private readonly maxCount: number,
    private readonly budgetMb: number,
  ) {}

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** The cached value, or a freshly loaded one after evicting the least recently used. */
  async get(key: string, sizeMb: number, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.value;
    }
    await this.makeRoom(sizeMb);
    const value = load();
    this.entries.set(key, { value, sizeMb });
    value.catch(() => this.entries.delete(key));
    return value;
  }

  private async makeRoom(sizeMb: number): Promise<void> {
    const used = () => [...this.entries.values()].reduce((s, e) => s + e.sizeMb, 0);
    while (this.entries.size > 0 && (this.entries.size >= this.maxCount || (this.budgetMb > 0 && used() + sizeMb > this.budgetMb))) {
      const [oldest, entry] = this.entries.entries().next().value as [string, { value: Promise<T> }];
      this.entries.delete(oldest);
      await entry.value.then((v) => v.dispose()).catch(() => undefined);
    }
  }
}

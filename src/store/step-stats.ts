// Measured generation speed per (model, device), kept as running means so estimates improve
// with every finished job and survive restarts.
import type { Db } from './db.js';

export interface StepStat {
  /** Milliseconds per step unit: one step of one 512×512 image. */
  msPerUnit: number;
  /** Per-job time outside the steps (text encoder, VAE, PNG encoding, loading). */
  overheadMs: number;
  samples: number;
}

/** Recent jobs weigh more than old ones once this many samples exist. */
const WINDOW = 20;

export class StepStatsStore {
  constructor(private readonly db: Db) {}

  get(model: string, device: string): StepStat | undefined {
    const row = this.db.prepare('SELECT samples, ms_per_unit, overhead_ms FROM step_stats WHERE model = ? AND device = ?').get(model, device) as
      | { samples: number; ms_per_unit: number; overhead_ms: number }
      | undefined;
    return row ? { samples: row.samples, msPerUnit: row.ms_per_unit, overheadMs: row.overhead_ms } : undefined;
  }

  all(): Map<string, StepStat> {
    const rows = this.db.prepare('SELECT model, device, samples, ms_per_unit, overhead_ms FROM step_stats').all() as {
      model: string;
      device: string;
      samples: number;
      ms_per_unit: number;
      overhead_ms: number;
    }[];
    return new Map(rows.map((r) => [statKey(r.model, r.device), { samples: r.samples, msPerUnit: r.ms_per_unit, overheadMs: r.overhead_ms }]));
  }

  /** Folds one measurement in; returns the new mean. */
  record(model: string, device: string, msPerUnit: number, overheadMs: number, now = Date.now()): StepStat {
    const prev = this.get(model, device);
    const n = Math.min((prev?.samples ?? 0) + 1, WINDOW);
    const next: StepStat = prev
      ? {
          samples: prev.samples + 1,
          msPerUnit: prev.msPerUnit + (msPerUnit - prev.msPerUnit) / n,
          overheadMs: prev.overheadMs + (overheadMs - prev.overheadMs) / n,
        }
      : { samples: 1, msPerUnit, overheadMs };
    this.db
      .prepare(
        `INSERT INTO step_stats (model, device, samples, ms_per_unit, overhead_ms, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(model, device) DO UPDATE SET samples = excluded.samples, ms_per_unit = excluded.ms_per_unit,
           overhead_ms = excluded.overhead_ms, updated_at = excluded.updated_at`,
      )
      .run(model, device, next.samples, next.msPerUnit, next.overheadMs, now);
    return next;
  }
}

export function statKey(model: string, device: string): string {
  return `${model}|${device}`;
}

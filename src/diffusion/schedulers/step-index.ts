// The step counter of diffusers' k-diffusion style schedulers (Euler, DPM-Solver, LCM): the
// schedule position is looked up from the first timestep seen, then advanced once per step.

/**
 * diffusers' index_for_timestep: where `t` sits in the schedule. When a timestep repeats, the
 * second match is taken, so image-to-image that starts at a repeated value does not skip a sigma.
 */
export function indexForTimestep(schedule: readonly number[], t: number): number | undefined {
  const first = schedule.indexOf(t);
  if (first < 0) return undefined;
  const second = schedule.indexOf(t, first + 1);
  return second >= 0 ? second : first;
}

export class StepIndex {
  private index: number | undefined;
  private begin: number | undefined;

  /** `fallback` answers for a timestep that is not in the schedule (diffusers raises by default). */
  constructor(private readonly fallback?: (schedule: readonly number[]) => number) {}

  reset(): void {
    this.index = undefined;
    this.begin = undefined;
  }

  setBegin(index: number): void {
    this.begin = index;
  }

  /** The current step's index, found from `t` (or the begin index) on first use. */
  current(schedule: readonly number[], t: number): number {
    this.index ??= this.begin ?? this.lookup(schedule, t);
    return this.index;
  }

  advance(): void {
    if (this.index === undefined) throw new Error('Step index advanced before it was initialised');
    this.index++;
  }

  /** add_noise's rule: look `t` up unless a begin index was set, then trust the counter. */
  forAddNoise(schedule: readonly number[], t: number): number {
    if (this.begin === undefined) return this.lookup(schedule, t);
    return this.index ?? this.begin;
  }

  private lookup(schedule: readonly number[], t: number): number {
    const found = indexForTimestep(schedule, t);
    if (found !== undefined) return found;
    if (this.fallback) return this.fallback(schedule);
    throw new RangeError(`Timestep ${t} is not in the scheduler's timesteps; pass one of scheduler.timesteps`);
  }
}

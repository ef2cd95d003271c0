// What diffusers' multistep solvers in the VP parameterisation (DPMSolverMultistep, UniPC) share
// around their own update rules: the config keys both have, timesteps from steps + 1 points with
// the last dropped, latents x = α_t x₀ + σ_t ε with an unscaled UNet input, the model output
// converted to x̂₀ (data prediction) or ε, and the history of converted outputs. diffusers copies
// these methods between the two classes; here both inherit them.
import { z } from 'zod';
import type { SchedulerName } from '../types.js';
import { checkSigmaSpacing, noiseScheduleFields, sigmaSpacingFields, unsupportedOption, type TimestepSpacing } from './config.js';
import { linearCombination } from './elementwise.js';
import { arange, finiteSigmaAlphasCumprod, linspace, roundHalfEven, trainSigmas } from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

/** Zod fields both classes have, with the defaults both give them. */
export function multistepSolverFields() {
  return {
    ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
    solver_order: z.number().int().min(1).max(3).default(2),
    prediction_type: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
    thresholding: z.boolean().default(false),
    lower_order_final: z.boolean().default(true),
    ...sigmaSpacingFields(),
    use_flow_sigmas: z.boolean().default(false),
    use_dynamic_shifting: z.boolean().default(false),
    final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
    rescale_betas_zero_snr: z.boolean().default(false),
  };
}

const multistepSolverSchema = z.object(multistepSolverFields());
export type MultistepSolverConfig = z.output<typeof multistepSolverSchema>;

/** Rejects what this port of both classes lacks, and both respacings at once. */
function checkMultistepConfig(className: string, c: MultistepSolverConfig): void {
  if (c.thresholding) unsupportedOption(className, 'thresholding', 'dynamic thresholding is for pixel-space models');
  if (c.use_flow_sigmas || c.use_dynamic_shifting) unsupportedOption(className, 'flow sigmas', 'they are for flow-matching models');
  checkSigmaSpacing(className, c);
}

/** A sigma in the VP parameterisation: α_t = 1/sqrt(σ² + 1), σ_t = σ α_t, λ_t = log α_t − log σ_t. */
export function vpCoordinates(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
  const sigmaT = sigma * alpha;
  return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
}

/**
 * The timesteps of both classes' set_timesteps, descending integers: `linspace` and `leading`
 * spread steps + 1 points over [0, lastTimestep) and drop the last (t = 0); `trailing` counts
 * back from lastTimestep. `lastTimestep` is num_train_timesteps unless DPM-Solver clips λ.
 */
export function multistepTimesteps(spacing: TimestepSpacing, lastTimestep: number, numTrainTimesteps: number, steps: number, stepsOffset: number): number[] {
  switch (spacing) {
    case 'linspace':
      return linspace(0, lastTimestep - 1, steps + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, -1);
    case 'leading': {
      const ratio = Math.floor(lastTimestep / (steps + 1));
      return Array.from({ length: steps + 1 }, (_, i) => i * ratio)
        .reverse()
        .slice(0, -1)
        .map((t) => t + stepsOffset);
    }
    case 'trailing':
      return arange(lastTimestep, 0, -numTrainTimesteps / steps).map((t) => roundHalfEven(t) - 1);
  }
}

export abstract class MultistepSolver<C extends MultistepSolverConfig> implements Scheduler<C> {
  abstract readonly name: SchedulerName;
  abstract readonly stochastic: boolean;
  readonly config: Readonly<C>;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  timesteps: number[];
  /** The σ of each timestep, then the σ the last step lands on. */
  sigmas: Float32Array;

  protected readonly alphasCumprod: Float32Array;
  /** A timestep not in the schedule counts as the last step, as diffusers' fallback does. */
  protected readonly stepIndex = new StepIndex((schedule) => schedule.length - 1);
  /** The last `solver_order` converted model outputs, oldest first. */
  protected modelOutputs: (Float32Array | undefined)[] = [];
  /** How many steps have run, up to solver_order: the warm-up from first order. */
  protected lowerOrderNums = 0;

  protected constructor(config: C, className: string) {
    checkMultistepConfig(className, config);
    this.config = config;
    this.alphasCumprod = finiteSigmaAlphasCumprod(config);
    // Before setTimesteps: every training step, as diffusers initialises it.
    this.sigmas = trainSigmas(this.alphasCumprod);
    const n = config.num_train_timesteps;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
  }

  /** True when the solver works on x̂₀ (DPM-Solver++, UniPC's predict_x0), false for ε. */
  protected abstract get predictsData(): boolean;

  abstract setTimesteps(steps: number): void;
  abstract step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput;

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)]);
    return linearCombination([alpha, original], [sigmaT, noise]);
  }

  /** Takes a new schedule and forgets the previous run's history. */
  protected useSchedule(timesteps: number[], sigmas: number[], sigmaLast: number): void {
    this.sigmas = Float32Array.from([...sigmas, sigmaLast]);
    // torch's float → int64 conversion truncates.
    this.timesteps = timesteps.map(Math.trunc);
    this.modelOutputs = new Array(this.config.solver_order).fill(undefined);
    this.lowerOrderNums = 0;
    this.stepIndex.reset();
  }

  /** The model output as the solver's x̂₀ or ε at σ_index. */
  protected convertModelOutput(modelOutput: Float32Array, sample: Float32Array, index: number): Float32Array {
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[index]);
    const x0 = this.predictsData;
    switch (this.config.prediction_type) {
      case 'epsilon':
        return x0 ? linearCombination([1 / alpha, sample], [-sigmaT / alpha, modelOutput]) : modelOutput.slice();
      case 'sample':
        return x0 ? modelOutput.slice() : linearCombination([1 / sigmaT, sample], [-alpha / sigmaT, modelOutput]);
      case 'v_prediction':
        return x0 ? linearCombination([alpha, sample], [-sigmaT, modelOutput]) : linearCombination([alpha, modelOutput], [sigmaT, sample]);
    }
  }

  /** x̂₀ for previews, from a converted output. */
  protected predOriginal(converted: Float32Array, sample: Float32Array, index: number): Float32Array {
    if (this.predictsData) return converted;
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[index]);
    return linearCombination([1 / alpha, sample], [-sigmaT / alpha, converted]);
  }

  /** Appends a converted output to the history, dropping the oldest. */
  protected remember(converted: Float32Array): void {
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
  }

  /** Ends a step: one more order is warmed up, and the step index moves on. */
  protected finishStep(): void {
    if (this.lowerOrderNums < this.config.solver_order) this.lowerOrderNums++;
    this.stepIndex.advance();
  }

  protected requireTimesteps(solver: string): void {
    if (this.modelOutputs.length === 0) throw new Error(`${solver}: call setTimesteps() before step()`);
  }
}

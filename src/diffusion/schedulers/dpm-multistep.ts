// diffusers' DPMSolverMultistepScheduler: DPM-Solver (Lu et al. 2022) and DPM-Solver++
// (2022b) multistep solvers of order 1–3. Its defaults (dpmsolver++, order 2, midpoint) are
// "DPM++ 2M"; with use_karras_sigmas it is "DPM++ 2M Karras", with sde-dpmsolver++ "DPM++ 2M SDE".
import { z } from 'zod';
import { parseSchedulerConfig, unsupportedOption } from './config.js';
import { drawNoise, linearCombination, type Term } from './elementwise.js';
import { MultistepSolver, multistepSolverFields, multistepTimesteps, vpCoordinates } from './multistep-solver.js';
import { exponentialSigmas, interpOnIndexGrid, karrasSigmas, linspace, logSigmasOf, roundHalfEven, sigmaToT, trainSigmas } from './noise-schedule.js';
import type { NoiseGenerator, StepOutput } from './types.js';

const CLASS = 'DPMSolverMultistepScheduler';

const dpmConfigSchema = z.object({
  ...multistepSolverFields(),
  // diffusers maps the DEIS and UniPC names it may inherit from a switched config.
  algorithm_type: z
    .enum(['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis'])
    .transform((a) => (a === 'deis' ? 'dpmsolver++' : a))
    .default('dpmsolver++'),
  solver_type: z
    .enum(['midpoint', 'heun', 'logrho', 'bh1', 'bh2'])
    .transform((s) => (s === 'heun' ? 'heun' : 'midpoint'))
    .default('midpoint'),
  euler_at_final: z.boolean().default(false),
  use_lu_lambdas: z.boolean().default(false),
  lambda_min_clipped: z.union([z.number(), z.literal(-Infinity)]).default(-Infinity),
  variance_type: z.enum(['learned', 'learned_range']).nullable().default(null),
});
export type DpmMultistepConfig = z.output<typeof dpmConfigSchema>;

export class DpmMultistepScheduler extends MultistepSolver<DpmMultistepConfig> {
  readonly name: 'dpmpp_2m' | 'dpmpp_2m_karras';
  readonly stochastic: boolean;

  /** `name` tells a registry variant (DPM++ 2M Karras) from the plain class. */
  constructor(config: unknown, name: 'dpmpp_2m' | 'dpmpp_2m_karras' = 'dpmpp_2m') {
    super(parseSchedulerConfig(dpmConfigSchema, config, CLASS), CLASS);
    this.name = name;
    const c = this.config;
    if (c.variance_type) unsupportedOption(CLASS, `variance_type ${c.variance_type}`, 'it needs a UNet that predicts variance');
    if (!c.algorithm_type.endsWith('++') && c.final_sigmas_type === 'zero') {
      throw new RangeError(`${CLASS}: final_sigmas_type "zero" needs algorithm_type dpmsolver++ or sde-dpmsolver++`);
    }
    if (c.algorithm_type === 'sde-dpmsolver' && c.solver_order === 3) {
      throw new RangeError(`${CLASS}: sde-dpmsolver has no third-order solver`);
    }
    this.stochastic = c.algorithm_type.startsWith('sde-');
  }

  protected get predictsData(): boolean {
    return this.config.algorithm_type.endsWith('++');
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    let timesteps = multistepTimesteps(c.timestep_spacing, this.lastTimestep(), c.num_train_timesteps, steps, c.steps_offset);
    const train = trainSigmas(this.alphasCumprod);
    const logSigmas = logSigmasOf(train);
    const sigmaMin = train[0];
    const sigmaMax = train[train.length - 1];
    // Respaced schedules round their timesteps, except on the cosine schedule (diffusers' rule).
    const roundT = (t: number) => (c.beta_schedule === 'squaredcos_cap_v2' ? t : roundHalfEven(t));
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      sigmas = karrasSigmas(sigmaMin, sigmaMax, steps);
      timesteps = sigmas.map((s) => roundT(sigmaToT(s, logSigmas)));
    } else if (c.use_lu_lambdas) {
      // Uniform in λ = −log σ: the "Lu lambdas" of DPM-Solver's own code.
      const [logMin, logMax] = [logSigmas[0], logSigmas[logSigmas.length - 1]];
      sigmas = linspace(0, 1, steps).map((r) => Math.exp(logMax + r * (logMin - logMax)));
      timesteps = sigmas.map((s) => roundT(sigmaToT(s, logSigmas)));
    } else if (c.use_exponential_sigmas) {
      sigmas = exponentialSigmas(sigmaMin, sigmaMax, steps);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    } else {
      sigmas = timesteps.map((t) => interpOnIndexGrid(t, train));
    }
    this.useSchedule(timesteps, sigmas, c.final_sigmas_type === 'sigma_min' ? train[0] : 0);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    this.requireTimesteps('DPM-Solver');
    const c = this.config;
    const index = this.stepIndex.current(this.timesteps, t);
    const n = this.timesteps.length;
    // Few steps: finish with lower orders, which are more stable there.
    const lowerOrderFinal = index === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = index === n - 2 && c.lower_order_final && n < 15;

    const converted = this.convertModelOutput(modelOutput, sample, index);
    this.remember(converted);
    const noise = this.stochastic ? drawNoise(generator, modelOutput.length, 'DPM++ 2M SDE') : undefined;

    // A repeated sigma (rounded timesteps at very high step counts) makes a step of size 0 in λ,
    // and the multistep formulas divide by it: diffusers returns NaN there, this falls back to
    // the highest order whose history has distinct sigmas.
    const distinctHistory = (back: number) => this.sigmas[index - back] !== this.sigmas[index - back + 1];
    let prevSample: Float32Array;
    if (c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal || !distinctHistory(1)) {
      prevSample = this.firstOrderUpdate(converted, sample, index, noise);
    } else if (c.solver_order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond || !distinctHistory(2)) {
      prevSample = this.secondOrderUpdate(sample, index, noise);
    } else {
      prevSample = this.thirdOrderUpdate(sample, index, noise);
    }
    this.finishStep();
    return { prevSample, predOriginalSample: this.predOriginal(converted, sample, index) };
  }

  /** The last training timestep whose λ is above lambda_min_clipped (all of them by default). */
  private lastTimestep(): number {
    const { lambda_min_clipped: minLambda, num_train_timesteps: trainSteps } = this.config;
    // torch.searchsorted over the ascending (flipped) λ_t: how many are below the bound.
    // λ_t = log sqrt(ᾱ) − log sqrt(1 − ᾱ), in float32 like diffusers' lambda_t tensor.
    const f32 = Math.fround;
    let below = 0;
    for (const a of this.alphasCumprod) {
      const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
      if (lambda < minLambda) below++;
    }
    return trainSteps - below;
  }

  /** Equation (5) of DPM-Solver++ (and its DPM-Solver / SDE variants): one DDIM-like step. */
  private firstOrderUpdate(m0: Float32Array, sample: Float32Array, index: number, noise?: Float32Array): Float32Array {
    const t = vpCoordinates(this.sigmas[index + 1]);
    const s = vpCoordinates(this.sigmas[index]);
    const h = t.lambda - s.lambda;
    switch (this.config.algorithm_type) {
      case 'dpmsolver++':
        return linearCombination([t.sigmaT / s.sigmaT, sample], [-t.alpha * (Math.exp(-h) - 1), m0]);
      case 'dpmsolver':
        return linearCombination([t.alpha / s.alpha, sample], [-t.sigmaT * (Math.exp(h) - 1), m0]);
      case 'sde-dpmsolver++':
        return linearCombination(
          [(t.sigmaT / s.sigmaT) * Math.exp(-h), sample],
          [t.alpha * (1 - Math.exp(-2 * h)), m0],
          [t.sigmaT * Math.sqrt(1 - Math.exp(-2 * h)), noise!],
        );
      case 'sde-dpmsolver':
        return linearCombination([t.alpha / s.alpha, sample], [-2 * t.sigmaT * (Math.exp(h) - 1), m0], [t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1), noise!]);
    }
  }

  /** Multistep second-order update from the last two model outputs (the "2M" of DPM++ 2M). */
  private secondOrderUpdate(sample: Float32Array, index: number, noise?: Float32Array): Float32Array {
    const [m1, m0] = this.modelOutputs.slice(-2) as Float32Array[];
    const t = vpCoordinates(this.sigmas[index + 1]);
    const s0 = vpCoordinates(this.sigmas[index]);
    const s1 = vpCoordinates(this.sigmas[index - 1]);
    const h = t.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    // D0 = m0, D1 = (m0 − m1) / r0, folded into coefficients of m0 and m1.
    const withD = (sampleCoeff: number, d0: number, d1: number, extra: Term[] = []) =>
      linearCombination([sampleCoeff, sample], [d0 + d1 / r0, m0], [-d1 / r0, m1], ...extra);
    const heun = this.config.solver_type === 'heun';
    const expm = Math.exp(-h) - 1;
    const expp = Math.exp(h) - 1;
    switch (this.config.algorithm_type) {
      case 'dpmsolver++':
        return withD(t.sigmaT / s0.sigmaT, -t.alpha * expm, heun ? t.alpha * (expm / h + 1) : -0.5 * t.alpha * expm);
      case 'dpmsolver':
        return withD(t.alpha / s0.alpha, -t.sigmaT * expp, heun ? -t.sigmaT * (expp / h - 1) : -0.5 * t.sigmaT * expp);
      case 'sde-dpmsolver++': {
        const decay = 1 - Math.exp(-2 * h);
        return withD((t.sigmaT / s0.sigmaT) * Math.exp(-h), t.alpha * decay, heun ? t.alpha * (decay / (-2 * h) + 1) : 0.5 * t.alpha * decay, [
          [t.sigmaT * Math.sqrt(decay), noise!],
        ]);
      }
      case 'sde-dpmsolver':
        return withD(t.alpha / s0.alpha, -2 * t.sigmaT * expp, heun ? -2 * t.sigmaT * (expp / h - 1) : -t.sigmaT * expp, [
          [t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1), noise!],
        ]);
    }
  }

  /** Multistep third-order update from the last three model outputs. */
  private thirdOrderUpdate(sample: Float32Array, index: number, noise?: Float32Array): Float32Array {
    const [m2, m1, m0] = this.modelOutputs.slice(-3) as Float32Array[];
    const t = vpCoordinates(this.sigmas[index + 1]);
    const s0 = vpCoordinates(this.sigmas[index]);
    const s1 = vpCoordinates(this.sigmas[index - 1]);
    const s2 = vpCoordinates(this.sigmas[index - 2]);
    const h = t.lambda - s0.lambda;
    const r0 = (s0.lambda - s1.lambda) / h;
    const r1 = (s1.lambda - s2.lambda) / h;
    // D1_0 = (m0 − m1)/r0, D1_1 = (m1 − m2)/r1, D1 = D1_0 + r0/(r0+r1) (D1_0 − D1_1), D2 = (D1_0 − D1_1)/(r0+r1):
    // expanded into coefficients of m0, m1, m2.
    const d10 = { m0: 1 / r0, m1: -1 / r0, m2: 0 };
    const d11 = { m0: 0, m1: 1 / r1, m2: -1 / r1 };
    const diff = { m0: d10.m0 - d11.m0, m1: d10.m1 - d11.m1, m2: d10.m2 - d11.m2 };
    const k = r0 / (r0 + r1);
    const d1 = { m0: d10.m0 + k * diff.m0, m1: d10.m1 + k * diff.m1, m2: d10.m2 + k * diff.m2 };
    const d2 = { m0: diff.m0 / (r0 + r1), m1: diff.m1 / (r0 + r1), m2: diff.m2 / (r0 + r1) };
    const combine = (sampleCoeff: number, c0: number, c1: number, c2: number, extra: Term[] = []) =>
      linearCombination([sampleCoeff, sample], [c0 + c1 * d1.m0 + c2 * d2.m0, m0], [c1 * d1.m1 + c2 * d2.m1, m1], [c1 * d1.m2 + c2 * d2.m2, m2], ...extra);
    const expm = Math.exp(-h) - 1;
    const expp = Math.exp(h) - 1;
    switch (this.config.algorithm_type) {
      case 'dpmsolver++':
        return combine(t.sigmaT / s0.sigmaT, -t.alpha * expm, t.alpha * (expm / h + 1), -t.alpha * ((expm + h) / h ** 2 - 0.5));
      case 'dpmsolver':
        return combine(t.alpha / s0.alpha, -t.sigmaT * expp, -t.sigmaT * (expp / h - 1), -t.sigmaT * ((expp - h) / h ** 2 - 0.5));
      case 'sde-dpmsolver++': {
        const decay = 1 - Math.exp(-2 * h);
        return combine(
          (t.sigmaT / s0.sigmaT) * Math.exp(-h),
          t.alpha * decay,
          t.alpha * (decay / (-2 * h) + 1),
          t.alpha * ((decay - 2 * h) / (2 * h) ** 2 - 0.5),
          [[t.sigmaT * Math.sqrt(decay), noise!]],
        );
      }
      case 'sde-dpmsolver':
        throw new RangeError(`${CLASS}: sde-dpmsolver has no third-order solver`);
    }
  }
}

// diffusers' DPMSolverMultistepScheduler: DPM-Solver (Lu et al. 2022) and DPM-Solver++
// (2022b) multistep solvers of order 1–3. Its defaults (dpmsolver++, order 2, midpoint) are
// "DPM++ 2M"; with use_karras_sigmas it is "DPM++ 2M Karras", with sde-dpmsolver++ "DPM++ 2M SDE".
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { drawNoise, linearCombination, type Term } from './elementwise.js';
import {
  arange,
  exponentialSigmas,
  interpOnIndexGrid,
  karrasSigmas,
  linspace,
  logSigmasOf,
  noiseSchedule,
  roundHalfEven,
  sigmaToT,
  trainSigmas,
} from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { NoiseGenerator, Scheduler, StepOutput } from './types.js';

const CLASS = 'DPMSolverMultistepScheduler';

const dpmConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  solver_order: z.number().int().min(1).max(3).default(2),
  prediction_type: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
  thresholding: z.boolean().default(false),
  // diffusers maps the DEIS and UniPC names it may inherit from a switched config.
  algorithm_type: z
    .enum(['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis'])
    .transform((a) => (a === 'deis' ? 'dpmsolver++' : a))
    .default('dpmsolver++'),
  solver_type: z
    .enum(['midpoint', 'heun', 'logrho', 'bh1', 'bh2'])
    .transform((s) => (s === 'heun' ? 'heun' : 'midpoint'))
    .default('midpoint'),
  lower_order_final: z.boolean().default(true),
  euler_at_final: z.boolean().default(false),
  use_karras_sigmas: z.boolean().default(false),
  use_exponential_sigmas: z.boolean().default(false),
  use_beta_sigmas: z.boolean().default(false),
  use_lu_lambdas: z.boolean().default(false),
  use_flow_sigmas: z.boolean().default(false),
  use_dynamic_shifting: z.boolean().default(false),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
  lambda_min_clipped: z.union([z.number(), z.literal(-Infinity)]).default(-Infinity),
  variance_type: z.enum(['learned', 'learned_range']).nullable().default(null),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type DpmMultistepConfig = z.output<typeof dpmConfigSchema>;

const ZERO_SNR_ALPHA_CUMPROD = 2 ** -24;

/** A sigma in the VP parameterisation: α_t = 1/sqrt(σ² + 1), σ_t = σ α_t, λ_t = log(α_t / σ_t). */
function vpCoordinates(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
  const sigmaT = sigma * alpha;
  return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
}

export class DpmMultistepScheduler implements Scheduler<DpmMultistepConfig> {
  readonly name: 'dpmpp_2m' | 'dpmpp_2m_karras';
  readonly config: Readonly<DpmMultistepConfig>;
  readonly order = 1;
  readonly stochastic: boolean;
  readonly initNoiseSigma = 1;
  timesteps: number[];
  sigmas: Float32Array;

  private readonly alphasCumprod: Float32Array;
  private readonly stepIndex = new StepIndex((schedule) => schedule.length - 1);
  /** The last `solver_order` converted model outputs, oldest first. */
  private modelOutputs: (Float32Array | undefined)[] = [];
  private lowerOrderNums = 0;

  /** `name` tells a registry variant (DPM++ 2M Karras) from the plain class. */
  constructor(config: unknown, name: 'dpmpp_2m' | 'dpmpp_2m_karras' = 'dpmpp_2m') {
    this.name = name;
    this.config = parseSchedulerConfig(dpmConfigSchema, config, CLASS);
    const c = this.config;
    if (c.thresholding) unsupportedOption(CLASS, 'thresholding', 'dynamic thresholding is for pixel-space models');
    if (c.variance_type) unsupportedOption(CLASS, `variance_type ${c.variance_type}`, 'it needs a UNet that predicts variance');
    if (c.use_beta_sigmas) unsupportedOption(CLASS, 'use_beta_sigmas', 'it needs scipy’s beta.ppf');
    if (c.use_flow_sigmas || c.use_dynamic_shifting) unsupportedOption(CLASS, 'flow sigmas', 'they are for flow-matching models');
    if (Number(c.use_karras_sigmas) + Number(c.use_exponential_sigmas) > 1) {
      throw new RangeError(`${CLASS}: use only one of use_karras_sigmas and use_exponential_sigmas`);
    }
    if (!c.algorithm_type.endsWith('++') && c.final_sigmas_type === 'zero') {
      throw new RangeError(`${CLASS}: final_sigmas_type "zero" needs algorithm_type dpmsolver++ or sde-dpmsolver++`);
    }
    if (c.algorithm_type === 'sde-dpmsolver' && c.solver_order === 3) {
      throw new RangeError(`${CLASS}: sde-dpmsolver has no third-order solver`);
    }
    this.stochastic = c.algorithm_type.startsWith('sde-');
    this.alphasCumprod = noiseSchedule(c).alphasCumprod;
    if (c.rescale_betas_zero_snr) this.alphasCumprod[this.alphasCumprod.length - 1] = ZERO_SNR_ALPHA_CUMPROD;
    this.sigmas = trainSigmas(this.alphasCumprod);
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    const last = this.lastTimestep();
    let timesteps: number[];
    switch (c.timestep_spacing) {
      case 'linspace':
        timesteps = linspace(0, last - 1, steps + 1).map(roundHalfEven).reverse().slice(0, -1);
        break;
      case 'leading': {
        const ratio = Math.floor(last / (steps + 1));
        timesteps = Array.from({ length: steps + 1 }, (_, i) => i * ratio)
          .reverse()
          .slice(0, -1)
          .map((t) => t + c.steps_offset);
        break;
      }
      case 'trailing':
        timesteps = arange(last, 0, -c.num_train_timesteps / steps).map((t) => roundHalfEven(t) - 1);
        break;
    }

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
    const sigmaLast = c.final_sigmas_type === 'sigma_min' ? train[0] : 0;
    this.sigmas = Float32Array.from([...sigmas, sigmaLast]);
    // torch's float → int64 conversion truncates.
    this.timesteps = timesteps.map(Math.trunc);
    this.modelOutputs = new Array(c.solver_order).fill(undefined);
    this.lowerOrderNums = 0;
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    if (this.modelOutputs.length === 0) throw new Error('DPM-Solver: call setTimesteps() before step()');
    const c = this.config;
    const index = this.stepIndex.current(this.timesteps, t);
    const n = this.timesteps.length;
    // Few steps: finish with lower orders, which are more stable there.
    const lowerOrderFinal =
      index === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = index === n - 2 && c.lower_order_final && n < 15;

    const converted = this.convertModelOutput(modelOutput, sample, index);
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
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
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: this.predOriginal(converted, sample, index) };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)]);
    return linearCombination([alpha, original], [sigmaT, noise]);
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

  /** DPM-Solver++ works on x̂₀ predictions, DPM-Solver on ε predictions. */
  private convertModelOutput(modelOutput: Float32Array, sample: Float32Array, index: number): Float32Array {
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[index]);
    const wantsX0 = this.config.algorithm_type.endsWith('++');
    switch (this.config.prediction_type) {
      case 'epsilon':
        return wantsX0 ? linearCombination([1 / alpha, sample], [-sigmaT / alpha, modelOutput]) : modelOutput.slice();
      case 'sample':
        return wantsX0 ? modelOutput.slice() : linearCombination([1 / sigmaT, sample], [-alpha / sigmaT, modelOutput]);
      case 'v_prediction':
        return wantsX0
          ? linearCombination([alpha, sample], [-sigmaT, modelOutput])
          : linearCombination([alpha, modelOutput], [sigmaT, sample]);
    }
  }

  private predOriginal(converted: Float32Array, sample: Float32Array, index: number): Float32Array {
    if (this.config.algorithm_type.endsWith('++')) return converted;
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[index]);
    return linearCombination([1 / alpha, sample], [-sigmaT / alpha, converted]);
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
        return linearCombination(
          [t.alpha / s.alpha, sample],
          [-2 * t.sigmaT * (Math.exp(h) - 1), m0],
          [t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1), noise!],
        );
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
        return withD(
          (t.sigmaT / s0.sigmaT) * Math.exp(-h),
          t.alpha * decay,
          heun ? t.alpha * (decay / (-2 * h) + 1) : 0.5 * t.alpha * decay,
          [[t.sigmaT * Math.sqrt(decay), noise!]],
        );
      }
      case 'sde-dpmsolver':
        return withD(
          t.alpha / s0.alpha,
          -2 * t.sigmaT * expp,
          heun ? -2 * t.sigmaT * (expp / h - 1) : -t.sigmaT * expp,
          [[t.sigmaT * Math.sqrt(Math.exp(2 * h) - 1), noise!]],
        );
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
      linearCombination(
        [sampleCoeff, sample],
        [c0 + c1 * d1.m0 + c2 * d2.m0, m0],
        [c1 * d1.m1 + c2 * d2.m1, m1],
        [c1 * d1.m2 + c2 * d2.m2, m2],
        ...extra,
      );
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

// diffusers' UniPCMultistepScheduler (Zhao et al. 2023): a multistep predictor (UniP) and, once a
// step's model output is known, a corrector (UniC) that refines the previous update with it,
// at no extra model call. Defaults as diffusers: bh2, order 2, x̂₀ prediction, corrector on.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { linearCombination, type Term } from './elementwise.js';
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
import type { Scheduler, StepOutput } from './types.js';

const CLASS = 'UniPCMultistepScheduler';

const unipcConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  solver_order: z.number().int().min(1).max(3).default(2),
  prediction_type: z.enum(['epsilon', 'sample', 'v_prediction']).default('epsilon'),
  thresholding: z.boolean().default(false),
  predict_x0: z.boolean().default(true),
  // diffusers maps the DPM-Solver names a switched config may carry to bh2.
  solver_type: z
    .enum(['bh1', 'bh2', 'midpoint', 'heun', 'logrho'])
    .transform((s) => (s === 'bh1' ? 'bh1' : 'bh2'))
    .default('bh2'),
  lower_order_final: z.boolean().default(true),
  /** Step indices whose corrector is skipped (it runs on the previous step's output). */
  disable_corrector: z.array(z.number().int().min(0)).default([]),
  use_karras_sigmas: z.boolean().default(false),
  use_exponential_sigmas: z.boolean().default(false),
  use_beta_sigmas: z.boolean().default(false),
  use_flow_sigmas: z.boolean().default(false),
  use_dynamic_shifting: z.boolean().default(false),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type UniPcConfig = z.output<typeof unipcConfigSchema>;

const ZERO_SNR_ALPHA_CUMPROD = 2 ** -24;

/** A sigma in the VP parameterisation: α_t = 1/sqrt(σ² + 1), σ_t = σ α_t, λ_t = log α_t − log σ_t. */
function vpCoordinates(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma ** 2 + 1);
  const sigmaT = sigma * alpha;
  return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
}

/** Solves A x = b (small, dense) by Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const f = m[r][col] / m[col][col];
      for (let k = col; k <= n; k++) m[r][k] -= f * m[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

export class UniPcScheduler implements Scheduler<UniPcConfig> {
  readonly name = 'unipc';
  readonly config: Readonly<UniPcConfig>;
  readonly order = 1;
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  timesteps: number[];
  sigmas: Float32Array;

  private readonly alphasCumprod: Float32Array;
  private readonly stepIndex = new StepIndex((schedule) => schedule.length - 1);
  /** The last `solver_order` converted model outputs, oldest first. */
  private modelOutputs: (Float32Array | undefined)[] = [];
  private lowerOrderNums = 0;
  /** The sample before the last predictor, and that predictor's order: what the corrector redoes. */
  private lastSample: Float32Array | undefined;
  private lastOrder = 1;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(unipcConfigSchema, config, CLASS);
    const c = this.config;
    if (c.thresholding) unsupportedOption(CLASS, 'thresholding', 'dynamic thresholding is for pixel-space models');
    if (c.use_beta_sigmas) unsupportedOption(CLASS, 'use_beta_sigmas', 'it needs scipy’s beta.ppf');
    if (c.use_flow_sigmas || c.use_dynamic_shifting) unsupportedOption(CLASS, 'flow sigmas', 'they are for flow-matching models');
    if (Number(c.use_karras_sigmas) + Number(c.use_exponential_sigmas) > 1) {
      throw new RangeError(`${CLASS}: use only one of use_karras_sigmas and use_exponential_sigmas`);
    }
    this.alphasCumprod = noiseSchedule(c).alphasCumprod;
    if (c.rescale_betas_zero_snr) this.alphasCumprod[this.alphasCumprod.length - 1] = ZERO_SNR_ALPHA_CUMPROD;
    this.sigmas = trainSigmas(this.alphasCumprod);
    this.timesteps = Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    const n = c.num_train_timesteps;
    let timesteps: number[];
    switch (c.timestep_spacing) {
      case 'linspace':
        timesteps = linspace(0, n - 1, steps + 1).map(roundHalfEven).reverse().slice(0, -1);
        break;
      case 'leading': {
        const ratio = Math.floor(n / (steps + 1));
        timesteps = Array.from({ length: steps + 1 }, (_, i) => i * ratio)
          .reverse()
          .slice(0, -1)
          .map((t) => t + c.steps_offset);
        break;
      }
      case 'trailing':
        timesteps = arange(n, 0, -n / steps).map((t) => roundHalfEven(t) - 1);
        break;
    }

    const train = trainSigmas(this.alphasCumprod);
    const logSigmas = logSigmasOf(train);
    let sigmas: number[];
    let sigmaLast: number;
    if (c.use_karras_sigmas || c.use_exponential_sigmas) {
      // Respaced from the training range, σ_max → σ_min; timesteps looked up (Karras: rounded).
      const [sigmaMin, sigmaMax] = [train[0], train[train.length - 1]];
      sigmas = c.use_karras_sigmas ? karrasSigmas(sigmaMin, sigmaMax, steps) : exponentialSigmas(sigmaMin, sigmaMax, steps);
      timesteps = sigmas.map((s) => (c.use_karras_sigmas ? roundHalfEven(sigmaToT(s, logSigmas)) : sigmaToT(s, logSigmas)));
      sigmaLast = c.final_sigmas_type === 'sigma_min' ? sigmas[sigmas.length - 1] : 0;
    } else {
      sigmas = timesteps.map((t) => interpOnIndexGrid(t, train));
      sigmaLast = c.final_sigmas_type === 'sigma_min' ? train[0] : 0;
    }
    this.sigmas = Float32Array.from([...sigmas, sigmaLast]);
    // torch's float → int64 conversion truncates.
    this.timesteps = timesteps.map(Math.trunc);
    this.modelOutputs = new Array(c.solver_order).fill(undefined);
    this.lowerOrderNums = 0;
    this.lastSample = undefined;
    this.lastOrder = 1;
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    if (this.modelOutputs.length === 0) throw new Error('UniPC: call setTimesteps() before step()');
    const c = this.config;
    const index = this.stepIndex.current(this.timesteps, t);
    const converted = this.convertModelOutput(modelOutput, sample, index);

    // UniC: redo the previous update with this step's model output (no extra model call).
    const useCorrector = index > 0 && !c.disable_corrector.includes(index - 1) && this.lastSample !== undefined;
    const corrected = useCorrector ? this.correct(converted, this.lastSample!, index, this.lastOrder) : sample;

    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
    // Few steps: finish with lower orders, which are more stable there; warm up from order 1.
    const wanted = c.lower_order_final ? Math.min(c.solver_order, this.timesteps.length - index) : c.solver_order;
    const order = Math.min(wanted, this.lowerOrderNums + 1);
    this.lastSample = corrected;
    this.lastOrder = order;
    const prevSample = this.predict(corrected, index, order);
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: this.predOriginal(converted, sample, index) };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)]);
    return linearCombination([alpha, original], [sigmaT, noise]);
  }

  /** predict_x0 works on x̂₀, otherwise on ε. */
  private convertModelOutput(modelOutput: Float32Array, sample: Float32Array, index: number): Float32Array {
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[index]);
    const x0 = this.config.predict_x0;
    switch (this.config.prediction_type) {
      case 'epsilon':
        return x0 ? linearCombination([1 / alpha, sample], [-sigmaT / alpha, modelOutput]) : modelOutput.slice();
      case 'sample':
        return x0 ? modelOutput.slice() : linearCombination([1 / sigmaT, sample], [-alpha / sigmaT, modelOutput]);
      case 'v_prediction':
        return x0
          ? linearCombination([alpha, sample], [-sigmaT, modelOutput])
          : linearCombination([alpha, modelOutput], [sigmaT, sample]);
    }
  }

  private predOriginal(converted: Float32Array, sample: Float32Array, index: number): Float32Array {
    if (this.config.predict_x0) return converted;
    const { alpha, sigmaT } = vpCoordinates(this.sigmas[index]);
    return linearCombination([1 / alpha, sample], [-sigmaT / alpha, converted]);
  }

  /**
   * What the predictor and corrector share for a move from σ_s0 to σ_t: h = λ_t − λ_s0, the
   * right-hand side b of the order conditions (R ρ = b, R_ij = r_j^i), the first-order update's
   * coefficients of x and m0, and the scale of the higher-order terms.
   */
  private bhTerms(sigmaS0: number, sigmaT: number, order: number) {
    const s0 = vpCoordinates(sigmaS0);
    const t = vpCoordinates(sigmaT);
    const h = t.lambda - s0.lambda;
    const hh = this.config.predict_x0 ? -h : h;
    const hPhi1 = Math.expm1(hh);
    const bH = this.config.solver_type === 'bh1' ? hh : Math.expm1(hh);
    const b: number[] = [];
    let hPhiK = hPhi1 / hh - 1;
    let factorial = 1;
    for (let i = 1; i <= order; i++) {
      b.push((hPhiK * factorial) / bH);
      factorial *= i + 1;
      hPhiK = hPhiK / hh - 1 / factorial;
    }
    // x_t without the higher-order terms is a DDIM-like step; those terms are scaled by α_t B(h) (or σ_t B(h)).
    const x0 = this.config.predict_x0;
    return {
      h,
      s0,
      b,
      sampleCoeff: x0 ? t.sigmaT / s0.sigmaT : t.alpha / s0.alpha,
      m0Coeff: x0 ? -t.alpha * hPhi1 : -t.sigmaT * hPhi1,
      correctionScale: (x0 ? t.alpha : t.sigmaT) * bH,
    };
  }

  /** UniP: the predictor from σ_index to σ_{index+1}, using `order` stored model outputs. */
  private predict(sample: Float32Array, index: number, order: number): Float32Array {
    const m = this.modelOutputs as Float32Array[];
    const m0 = m[m.length - 1];
    const { h, s0, b, sampleCoeff, m0Coeff, correctionScale } = this.bhTerms(this.sigmas[index], this.sigmas[index + 1], order);
    const terms: Term[] = [[sampleCoeff, sample], [m0Coeff, m0]];
    if (order >= 2) {
      // D1_i = (m_i − m0) / r_i for the outputs i steps back, r_i = (λ_{s_i} − λ_{s0}) / h.
      const rks: number[] = [];
      for (let i = 1; i < order; i++) rks.push((vpCoordinates(this.sigmas[index - i]).lambda - s0.lambda) / h);
      const rhos = order === 2 ? [0.5] : solve(powerRows(rks, order - 1), b.slice(0, order - 1));
      for (let i = 1; i < order; i++) {
        const w = (-correctionScale * rhos[i - 1]) / rks[i - 1];
        terms.push([w, m[m.length - 1 - i]], [-w, m0]);
      }
    }
    // Order 1 has no correction term; skipping it avoids diffusers' B(h) · 0 = NaN at σ_t = 0 with bh1.
    return linearCombination(...terms);
  }

  /** UniC: the corrected x at σ_index from the sample before the last predictor and this output. */
  private correct(modelT: Float32Array, lastSample: Float32Array, index: number, order: number): Float32Array {
    const m = this.modelOutputs as Float32Array[];
    const m0 = m[m.length - 1];
    const { h, s0, b, sampleCoeff, m0Coeff, correctionScale } = this.bhTerms(this.sigmas[index - 1], this.sigmas[index], order);
    const rks: number[] = [];
    for (let i = 1; i < order; i++) rks.push((vpCoordinates(this.sigmas[index - 1 - i]).lambda - s0.lambda) / h);
    rks.push(1);
    const rhos = order === 1 ? [0.5] : solve(powerRows(rks, order), b);
    const terms: Term[] = [[sampleCoeff, lastSample], [m0Coeff, m0]];
    for (let i = 1; i < order; i++) {
      const w = (-correctionScale * rhos[i - 1]) / rks[i - 1];
      terms.push([w, m[m.length - 1 - i]], [-w, m0]);
    }
    // D1_t = model_t − m0, weighted by the last ρ.
    const wT = -correctionScale * rhos[rhos.length - 1];
    terms.push([wT, modelT], [-wT, m0]);
    return linearCombination(...terms);
  }
}

/** R = [r^0; r^1; …; r^(n−1)] for the first n entries of r. */
function powerRows(rks: number[], n: number): number[][] {
  const r = rks.slice(0, n);
  return Array.from({ length: n }, (_, i) => r.map((x) => x ** i));
}

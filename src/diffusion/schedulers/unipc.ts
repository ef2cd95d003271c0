// diffusers' UniPCMultistepScheduler (Zhao et al. 2023): a multistep predictor (UniP) and, once a
// step's model output is known, a corrector (UniC) that refines the previous update with it,
// at no extra model call. Defaults as diffusers: bh2, order 2, x̂₀ prediction, corrector on.
import { z } from 'zod';
import { parseSchedulerConfig } from './config.js';
import { linearCombination, type Term } from './elementwise.js';
import { MultistepSolver, multistepSolverFields, multistepTimesteps, vpCoordinates } from './multistep-solver.js';
import { exponentialSigmas, interpOnIndexGrid, karrasSigmas, logSigmasOf, roundHalfEven, sigmaToT, trainSigmas } from './noise-schedule.js';
import type { StepOutput } from './types.js';

const CLASS = 'UniPCMultistepScheduler';

const unipcConfigSchema = z.object({
  ...multistepSolverFields(),
  predict_x0: z.boolean().default(true),
  // diffusers maps the DPM-Solver names a switched config may carry to bh2.
  solver_type: z
    .enum(['bh1', 'bh2', 'midpoint', 'heun', 'logrho'])
    .transform((s) => (s === 'bh1' ? 'bh1' : 'bh2'))
    .default('bh2'),
  /** Step indices whose corrector is skipped (it runs on the previous step's output). */
  disable_corrector: z.array(z.number().int().min(0)).default([]),
});
export type UniPcConfig = z.output<typeof unipcConfigSchema>;

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

export class UniPcScheduler extends MultistepSolver<UniPcConfig> {
  readonly name = 'unipc';
  readonly stochastic = false;

  /** The sample before the last predictor, and that predictor's order: what the corrector redoes. */
  private lastSample: Float32Array | undefined;
  private lastOrder = 1;

  constructor(config: unknown) {
    super(parseSchedulerConfig(unipcConfigSchema, config, CLASS), CLASS);
  }

  protected get predictsData(): boolean {
    return this.config.predict_x0;
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    const n = c.num_train_timesteps;
    let timesteps = multistepTimesteps(c.timestep_spacing, n, n, steps, c.steps_offset);
    const train = trainSigmas(this.alphasCumprod);
    const logSigmas = logSigmasOf(train);
    let sigmas: number[];
    let sigmaLast: number;
    if (c.use_karras_sigmas || c.use_exponential_sigmas) {
      // Respaced from the training range, σ_max → σ_min; timesteps looked up. Unlike DPM-Solver's
      // (as in diffusers): Karras timesteps are rounded on every beta schedule, and the
      // sigma_min final sigma is the respaced schedule's own last one.
      const [sigmaMin, sigmaMax] = [train[0], train[train.length - 1]];
      sigmas = c.use_karras_sigmas ? karrasSigmas(sigmaMin, sigmaMax, steps) : exponentialSigmas(sigmaMin, sigmaMax, steps);
      timesteps = sigmas.map((s) => (c.use_karras_sigmas ? roundHalfEven(sigmaToT(s, logSigmas)) : sigmaToT(s, logSigmas)));
      sigmaLast = c.final_sigmas_type === 'sigma_min' ? sigmas[sigmas.length - 1] : 0;
    } else {
      sigmas = timesteps.map((t) => interpOnIndexGrid(t, train));
      sigmaLast = c.final_sigmas_type === 'sigma_min' ? train[0] : 0;
    }
    this.useSchedule(timesteps, sigmas, sigmaLast);
    this.lastSample = undefined;
    this.lastOrder = 1;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    this.requireTimesteps('UniPC');
    const c = this.config;
    const index = this.stepIndex.current(this.timesteps, t);
    const converted = this.convertModelOutput(modelOutput, sample, index);

    // UniC: redo the previous update with this step's model output (no extra model call).
    const useCorrector = index > 0 && !c.disable_corrector.includes(index - 1) && this.lastSample !== undefined;
    const corrected = useCorrector ? this.correct(converted, this.lastSample!, index, this.lastOrder) : sample;

    this.remember(converted);
    // Few steps: finish with lower orders, which are more stable there; warm up from order 1.
    const wanted = c.lower_order_final ? Math.min(c.solver_order, this.timesteps.length - index) : c.solver_order;
    const order = Math.min(wanted, this.lowerOrderNums + 1);
    this.lastSample = corrected;
    this.lastOrder = order;
    const prevSample = this.predict(corrected, index, order);
    this.finishStep();
    return { prevSample, predOriginalSample: this.predOriginal(converted, sample, index) };
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
    const terms: Term[] = [
      [sampleCoeff, sample],
      [m0Coeff, m0],
    ];
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
    const terms: Term[] = [
      [sampleCoeff, lastSample],
      [m0Coeff, m0],
    ];
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

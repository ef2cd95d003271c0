// diffusers' LMSDiscreteScheduler: the linear multistep method of k-diffusion (Crowson) on the
// model's discrete sigmas. Each step integrates the Lagrange polynomial through the last four
// ODE slopes over [σ, σ_next]; the first steps use as many slopes as they have.
import { z } from 'zod';
import { checkSigmaSpacing, noiseScheduleFields, parseSchedulerConfig, sigmaSpacingFields } from './config.js';
import { discreteSigmaSchedule, predictOriginal } from './discrete-sigmas.js';
import { linearCombination, type Term } from './elementwise.js';
import { integratePolynomial } from './gauss-legendre.js';
import { SigmaScheduler } from './sigma-scheduler.js';
import type { StepOutput } from './types.js';

const CLASS = 'LMSDiscreteScheduler';

/** diffusers' step(order=4) default: how many past slopes the multistep formula uses. */
const LMS_ORDER = 4;

const lmsConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  ...sigmaSpacingFields(),
});
export type LmsConfig = z.output<typeof lmsConfigSchema>;

export class LmsScheduler extends SigmaScheduler<LmsConfig> {
  readonly name = 'lms';
  readonly order = 1;
  readonly stochastic = false;

  /** The last LMS_ORDER slopes (x − x̂₀) / σ, oldest first. */
  private derivatives: Float32Array[] = [];

  constructor(config: unknown) {
    super(parseSchedulerConfig(lmsConfigSchema, config, CLASS));
    checkSigmaSpacing(CLASS, this.config);
    this.setTimesteps(this.config.num_train_timesteps);
  }

  setTimesteps(steps: number): void {
    const { timesteps, sigmas } = discreteSigmaSchedule(this.config, this.alphasCumprod, steps, { float32Linspace: true });
    this.sigmas = Float32Array.from([...sigmas, 0]);
    this.timesteps = timesteps.map(Math.fround);
    this.derivatives = [];
    this.stepIndex.reset();
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const sigma = this.sigmas[index];
    const predOriginal = predictOriginal(this.config.prediction_type, sigma, modelOutput, sample);
    this.derivatives.push(linearCombination([1 / sigma, sample], [-1 / sigma, predOriginal]));
    if (this.derivatives.length > LMS_ORDER) this.derivatives.shift();

    // As diffusers: the order follows the step index, and the coefficients pair with however many
    // slopes are stored (fewer after image-to-image starts part-way through the schedule).
    const order = Math.min(index + 1, LMS_ORDER);
    const terms: Term[] = [[1, sample]];
    for (let k = 0; k < Math.min(order, this.derivatives.length); k++) {
      terms.push([this.lmsCoefficient(order, index, k), this.derivatives[this.derivatives.length - 1 - k]]);
    }
    const prevSample = linearCombination(...terms);
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: predOriginal };
  }

  /**
   * diffusers' get_lms_coefficient: ∫ from σ_t to σ_{t+1} of the Lagrange basis polynomial that is
   * 1 at σ_{t−k} and 0 at the other `order − 1` past sigmas.
   */
  lmsCoefficient(order: number, t: number, k: number): number {
    const s = this.sigmas;
    const basis = (tau: number) => {
      let prod = 1;
      for (let j = 0; j < order; j++) {
        if (j !== k) prod *= (tau - s[t - j]) / (s[t - k] - s[t - j]);
      }
      return prod;
    };
    return integratePolynomial(basis, s[t], s[t + 1]);
  }
}

// diffusers' EulerDiscreteScheduler: Algorithm 2 of Karras et al. (2022) without churn, on the
// model's discrete sigmas, optionally respaced as Karras or exponential sigmas.
import { z } from 'zod';
import { checkSigmaSpacing, noiseScheduleFields, parseSchedulerConfig, sigmaSpacingFields } from './config.js';
import { discreteSigmaSchedule, eulerStepInto } from './discrete-sigmas.js';
import { SigmaScheduler } from './sigma-scheduler.js';
import { freshStepBuffers, type ModelOutput, type StepBuffers, type StepOutput } from './types.js';

const CLASS = 'EulerDiscreteScheduler';

const eulerConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample', 'original_sample']).default('epsilon'),
  interpolation_type: z.enum(['linear', 'log_linear']).default('linear'),
  ...sigmaSpacingFields(),
  sigma_min: z.number().positive().nullable().default(null),
  sigma_max: z.number().positive().nullable().default(null),
  timestep_type: z.enum(['discrete', 'continuous']).default('discrete'),
  rescale_betas_zero_snr: z.boolean().default(false),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
});
export type EulerConfig = z.output<typeof eulerConfigSchema>;

export class EulerScheduler extends SigmaScheduler<EulerConfig> {
  readonly name: 'euler' | 'euler_karras';
  readonly order = 1;
  readonly stochastic = false;

  /** `name` tells a registry variant (Euler Karras) from the plain class. */
  constructor(config: unknown, name: 'euler' | 'euler_karras' = 'euler') {
    super(parseSchedulerConfig(eulerConfigSchema, config, CLASS));
    this.name = name;
    checkSigmaSpacing(CLASS, this.config);
    // Before setTimesteps: every training step, as diffusers initialises it.
    this.useTrainingSchedule();
    if (this.continuousTimesteps()) this.timesteps = this.continuousTimestepsOf(this.sigmas);
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    const schedule = discreteSigmaSchedule(c, this.alphasCumprod, steps, { float32Linspace: true });
    const sigmaLast = c.final_sigmas_type === 'sigma_min' ? schedule.trainSigmas[0] : 0;
    this.sigmas = Float32Array.from([...schedule.sigmas, sigmaLast]);
    this.timesteps = this.continuousTimesteps() ? this.continuousTimestepsOf(this.sigmas) : schedule.timesteps.map(Math.fround);
    this.stepIndex.reset();
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    return this.stepInto(modelOutput, t, sample, freshStepBuffers(sample.length));
  }

  stepInto(modelOutput: ModelOutput, t: number, sample: Float32Array, into: StepBuffers): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const out = eulerStepInto(this.config.prediction_type, modelOutput, sample, this.sigmas[index], this.sigmas[index + 1], into);
    this.stepIndex.advance();
    return out;
  }

  private continuousTimesteps(): boolean {
    return this.config.timestep_type === 'continuous' && this.config.prediction_type === 'v_prediction';
  }

  /** Continuous v-prediction timesteps: 0.25 · log σ of every sigma but the final one. */
  private continuousTimestepsOf(sigmas: Float32Array): number[] {
    return Array.from(sigmas.subarray(0, -1), (s) => Math.fround(0.25 * Math.log(s)));
  }
}

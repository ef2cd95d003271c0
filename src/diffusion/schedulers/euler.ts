// diffusers' EulerDiscreteScheduler: Algorithm 2 of Karras et al. (2022) without churn, on the
// model's discrete sigmas, optionally respaced as Karras or exponential sigmas.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig, unsupportedOption } from './config.js';
import { linearCombination, scale } from './elementwise.js';
import {
  exponentialSigmas,
  interpOnIndexGrid,
  karrasSigmas,
  logSigmasOf,
  noiseSchedule,
  sigmaToT,
  spacedTimesteps,
  torchLinspaceF32,
  trainSigmas,
} from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import type { Scheduler, StepOutput } from './types.js';

const eulerConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample', 'original_sample']).default('epsilon'),
  interpolation_type: z.enum(['linear', 'log_linear']).default('linear'),
  use_karras_sigmas: z.boolean().default(false),
  use_exponential_sigmas: z.boolean().default(false),
  use_beta_sigmas: z.boolean().default(false),
  sigma_min: z.number().positive().nullable().default(null),
  sigma_max: z.number().positive().nullable().default(null),
  timestep_type: z.enum(['discrete', 'continuous']).default('discrete'),
  rescale_betas_zero_snr: z.boolean().default(false),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
});
export type EulerConfig = z.output<typeof eulerConfigSchema>;

/** ᾱ of the last training step after zero-SNR rescaling: small, not 0, so sigma stays finite. */
const ZERO_SNR_ALPHA_CUMPROD = 2 ** -24;

export class EulerScheduler implements Scheduler<EulerConfig> {
  readonly name: 'euler' | 'euler_karras';
  readonly config: Readonly<EulerConfig>;
  readonly order = 1;
  readonly stochastic = false;
  timesteps: number[];
  /** One more than timesteps: the last is the sigma the final step lands on. */
  sigmas: Float32Array;

  private readonly alphasCumprod: Float32Array;
  private readonly stepIndex = new StepIndex();

  /** `name` tells a registry variant (Euler Karras) from the plain class. */
  constructor(config: unknown, name: 'euler' | 'euler_karras' = 'euler') {
    this.name = name;
    this.config = parseSchedulerConfig(eulerConfigSchema, config, 'EulerDiscreteScheduler');
    const c = this.config;
    if (c.use_beta_sigmas) unsupportedOption('EulerDiscreteScheduler', 'use_beta_sigmas', 'it needs scipy’s beta.ppf');
    if (Number(c.use_karras_sigmas) + Number(c.use_exponential_sigmas) > 1) {
      throw new RangeError('EulerDiscreteScheduler: use only one of use_karras_sigmas and use_exponential_sigmas');
    }
    this.alphasCumprod = noiseSchedule(c).alphasCumprod;
    if (c.rescale_betas_zero_snr) this.alphasCumprod[this.alphasCumprod.length - 1] = ZERO_SNR_ALPHA_CUMPROD;

    // Before setTimesteps: every training step, as diffusers initialises it.
    const sigmas = trainSigmas(this.alphasCumprod).reverse();
    this.sigmas = Float32Array.from([...sigmas, 0]);
    this.timesteps = this.continuousTimesteps()
      ? Array.from(sigmas, (s) => Math.fround(0.25 * Math.log(s)))
      : Array.from({ length: c.num_train_timesteps }, (_, i) => c.num_train_timesteps - 1 - i);
  }

  get initNoiseSigma(): number {
    const maxSigma = this.sigmas.reduce((m, s) => Math.max(m, s), 0);
    // leading spacing starts below the top sigma; its noise is normalised as x / sqrt(σ² + 1).
    return this.config.timestep_spacing === 'leading' ? Math.fround(Math.sqrt(maxSigma ** 2 + 1)) : maxSigma;
  }

  setTimesteps(steps: number): void {
    const c = this.config;
    let timesteps = spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset, {
      roundLinspace: false,
    });
    const train = trainSigmas(this.alphasCumprod);
    const logSigmas = logSigmasOf(train);

    let sigmas: number[];
    if (c.interpolation_type === 'linear') {
      sigmas = timesteps.map((t) => interpOnIndexGrid(t, train));
    } else {
      const logLinear = torchLinspaceF32(logSigmas[logSigmas.length - 1], logSigmas[0], steps + 1);
      sigmas = Array.from(logLinear, (l) => Math.fround(Math.exp(l)));
    }

    if (c.use_karras_sigmas || c.use_exponential_sigmas) {
      const sigmaMin = c.sigma_min ?? sigmas[sigmas.length - 1];
      const sigmaMax = c.sigma_max ?? sigmas[0];
      sigmas = c.use_karras_sigmas
        ? karrasSigmas(sigmaMin, sigmaMax, steps)
        : exponentialSigmas(sigmaMin, sigmaMax, steps);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    }

    const sigmaLast = c.final_sigmas_type === 'sigma_min' ? train[0] : 0;
    this.sigmas = Float32Array.from([...sigmas, sigmaLast]);
    this.timesteps = this.continuousTimesteps()
      ? Array.from(this.sigmas.subarray(0, -1), (s) => Math.fround(0.25 * Math.log(s)))
      : timesteps.map(Math.fround);
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  scaleModelInput(sample: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.current(this.timesteps, t)];
    return scale(sample, 1 / Math.sqrt(sigma ** 2 + 1));
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const sigma = this.sigmas[index];
    const sigmaNext = this.sigmas[index + 1];

    let predOriginal: Float32Array;
    switch (this.config.prediction_type) {
      case 'epsilon':
        predOriginal = linearCombination([1, sample], [-sigma, modelOutput]);
        break;
      case 'v_prediction':
        predOriginal = linearCombination([-sigma / Math.sqrt(sigma ** 2 + 1), modelOutput], [1 / (sigma ** 2 + 1), sample]);
        break;
      case 'sample':
      case 'original_sample':
        predOriginal = modelOutput;
        break;
    }
    // Euler step along the ODE: d = (x − x̂₀) / σ, x' = x + d (σ_next − σ).
    const dt = sigmaNext - sigma;
    const prevSample = linearCombination([1 + dt / sigma, sample], [-dt / sigma, predOriginal]);
    this.stepIndex.advance();
    return { prevSample, predOriginalSample: predOriginal };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)];
    return linearCombination([1, original], [sigma, noise]);
  }

  private continuousTimesteps(): boolean {
    return this.config.timestep_type === 'continuous' && this.config.prediction_type === 'v_prediction';
  }
}

// diffusers' EulerAncestralDiscreteScheduler ("Euler a"): an Euler step down to σ_down, then
// fresh noise of size σ_up, so each step forgets part of the previous noise.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig } from './config.js';
import { discreteSigmaSchedule, eulerStepInto } from './discrete-sigmas.js';
import { drawNoise } from './elementwise.js';
import { SigmaScheduler } from './sigma-scheduler.js';
import { freshStepBuffers, type ModelOutput, type NoiseGenerator, type StepBuffers, type StepOutput } from './types.js';

const eulerAncestralConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'linspace' }),
  // diffusers raises NotImplementedError for 'sample' in step(); reject it up front instead.
  prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
  rescale_betas_zero_snr: z.boolean().default(false),
});
export type EulerAncestralConfig = z.output<typeof eulerAncestralConfigSchema>;

export class EulerAncestralScheduler extends SigmaScheduler<EulerAncestralConfig> {
  readonly name = 'euler_a';
  readonly order = 1;
  readonly stochastic = true;

  constructor(config: unknown) {
    super(parseSchedulerConfig(eulerAncestralConfigSchema, config, 'EulerAncestralDiscreteScheduler'));
    this.useTrainingSchedule();
  }

  setTimesteps(steps: number): void {
    const { timesteps, sigmas } = discreteSigmaSchedule(this.config, this.alphasCumprod, steps, { float32Linspace: true });
    this.sigmas = Float32Array.from([...sigmas, 0]);
    this.timesteps = timesteps.map(Math.fround);
    this.stepIndex.reset();
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    return this.stepInto(modelOutput, t, sample, freshStepBuffers(sample.length), generator);
  }

  stepInto(modelOutput: ModelOutput, t: number, sample: Float32Array, into: StepBuffers, generator?: NoiseGenerator): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const sigma = this.sigmas[index];
    const sigmaNext = this.sigmas[index + 1];
    // Split the move to σ_next into a deterministic part (to σ_down) and fresh noise (σ_up).
    // diffusers' own formula, not k-diffusion's get_ancestral_step (DPM++ SDE's): σ_up unclamped.
    const sigmaUp = Math.sqrt((sigmaNext ** 2 * (sigma ** 2 - sigmaNext ** 2)) / sigma ** 2);
    const sigmaDown = Math.sqrt(Math.max(0, sigmaNext ** 2 - sigmaUp ** 2));
    // Noise is drawn on the last step too (σ_up = 0 there), as diffusers does: same RNG stream.
    const noise = drawNoise(generator, sample.length, 'Euler a');
    const out = eulerStepInto(this.config.prediction_type, modelOutput, sample, sigma, sigmaDown, into, [sigmaUp, noise]);
    this.stepIndex.advance();
    return out;
  }
}

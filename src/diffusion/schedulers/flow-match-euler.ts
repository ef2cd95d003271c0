// diffusers' FlowMatchEulerDiscreteScheduler (SD3, rectified flow): the model predicts the
// velocity v = noise − x₀ along x_σ = (1 − σ)·x₀ + σ·noise, and each step is an Euler step
// x ← x + (σ_next − σ)·v. Sigmas run from 1 down to a shifted minimum; timesteps are σ × 1000.
// Arithmetic follows diffusers' dtypes: the training sigmas are float32 (torch), set_timesteps
// spaces and shifts them in float64 (numpy), then stores float32 sigmas and timesteps.
import { z } from 'zod';
import { checkSigmaSpacing, parseSchedulerConfig, sigmaSpacingFields, unsupportedOption } from './config.js';
import { drawNoise, linearCombination, outputView } from './elementwise.js';
import { exponentialSigmas, karrasSigmas, linspace } from './noise-schedule.js';
import { StepIndex } from './step-index.js';
import { freshStepBuffers, type ModelOutput, type NoiseGenerator, type Scheduler, type StepBuffers, type StepOutput } from './types.js';

const CLASS = 'FlowMatchEulerDiscreteScheduler';
const f32 = Math.fround;

const flowMatchEulerConfigSchema = z.object({
  num_train_timesteps: z.number().int().positive().default(1000),
  shift: z.number().positive().default(1),
  use_dynamic_shifting: z.boolean().default(false),
  // Only read by dynamic (resolution-dependent) shifting, which this port refuses.
  base_shift: z.number().default(0.5),
  max_shift: z.number().default(1.15),
  base_image_seq_len: z.number().int().positive().default(256),
  max_image_seq_len: z.number().int().positive().default(4096),
  time_shift_type: z.enum(['exponential', 'linear']).default('exponential'),
  invert_sigmas: z.boolean().default(false),
  /** Stretch the shifted schedule so that it ends at this sigma (LTX-Video); off when absent or 0. */
  shift_terminal: z.number().min(0).lt(1).nullable().default(null),
  ...sigmaSpacingFields(),
  /** Re-noise x̂₀ with fresh noise at each step instead of the Euler update. */
  stochastic_sampling: z.boolean().default(false),
});
export type FlowMatchEulerConfig = z.output<typeof flowMatchEulerConfigSchema>;

export class FlowMatchEulerScheduler implements Scheduler<FlowMatchEulerConfig> {
  readonly name = 'flow_match_euler';
  readonly config: Readonly<FlowMatchEulerConfig>;
  readonly order = 1;
  readonly stochastic: boolean;
  /** The flow starts from pure noise: latents = randn, unscaled. */
  readonly initNoiseSigma = 1;
  timesteps: number[];
  /** The σ of each timestep, then the final 0 (1 with invert_sigmas). */
  sigmas: Float32Array;

  /** The shifted training schedule's ends, as __init__ stores them (Python floats of float32 values). */
  private readonly sigmaMin: number;
  private readonly sigmaMax: number;
  private readonly stepIndex = new StepIndex();

  constructor(config: unknown) {
    const c = parseSchedulerConfig(flowMatchEulerConfigSchema, config, CLASS);
    this.config = c;
    if (c.use_dynamic_shifting) {
      unsupportedOption(
        CLASS,
        'use_dynamic_shifting',
        'it needs the image sequence length (mu) at set_timesteps; SD3 and SD 3.5 ship with it off and use the fixed `shift`',
      );
    }
    checkSigmaSpacing(CLASS, c);
    this.stochastic = c.stochastic_sampling;
    // __init__: t = 1…N (float32), σ = t / N, shifted in float32 — the schedule before set_timesteps.
    const n = c.num_train_timesteps;
    const shift = f32(c.shift);
    const shiftMinusOne = f32(c.shift - 1);
    const train = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = f32((n - i) / n);
      train[i] = f32(f32(shift * s) / f32(1 + f32(shiftMinusOne * s)));
    }
    this.sigmas = train;
    this.timesteps = Array.from(train, (s) => f32(s * n));
    this.sigmaMax = train[0];
    this.sigmaMin = train[n - 1];
  }

  setTimesteps(steps: number): void {
    if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
    const c = this.config;
    const n = c.num_train_timesteps;
    // numpy float64 from here: linspace over σ × N, back to σ, shifted again (the training
    // schedule's ends are already shifted; diffusers shifts the spaced sigmas once more).
    let sigmas = linspace(this.sigmaMax * n, this.sigmaMin * n, steps).map((t) => t / n);
    sigmas = sigmas.map((s) => (c.shift * s) / (1 + (c.shift - 1) * s));
    if (c.shift_terminal) sigmas = stretchToTerminal(sigmas, c.shift_terminal);
    if (c.use_karras_sigmas) sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], steps);
    else if (c.use_exponential_sigmas) sigmas = exponentialSigmas(sigmas[sigmas.length - 1], sigmas[0], steps);

    const stored = Float32Array.from(sigmas);
    if (c.invert_sigmas) {
      for (let i = 0; i < stored.length; i++) stored[i] = f32(1 - stored[i]);
    }
    this.timesteps = Array.from(stored, (s) => f32(s * n));
    this.sigmas = Float32Array.from([...stored, c.invert_sigmas ? 1 : 0]);
    this.stepIndex.reset();
  }

  setBeginIndex(index: number): void {
    this.stepIndex.setBegin(index);
  }

  /** Flow matching feeds the transformer the latents as they are. */
  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, generator?: NoiseGenerator): StepOutput {
    return this.stepInto(modelOutput, t, sample, freshStepBuffers(sample.length), generator);
  }

  stepInto(modelOutput: ModelOutput, t: number, sample: Float32Array, into: StepBuffers, generator?: NoiseGenerator): StepOutput {
    const index = this.stepIndex.current(this.timesteps, t);
    const sigma = this.sigmas[index];
    const sigmaNext = this.sigmas[index + 1];
    if (sigmaNext === undefined) throw new RangeError(`${CLASS}: step() past the last timestep; call setTimesteps() first`);
    const n = sample.length;
    const { values: m, guided, uncond: u, cond: c, scale: g } = outputView(modelOutput, n);
    const x0 = into.predOriginalSample;
    const prev = into.prevSample;
    if (x0.length !== n || prev.length !== n) throw new RangeError(`Step buffers must hold ${n} values`);
    const noise = this.config.stochastic_sampling ? drawNoise(generator, n, 'stochastic Flow Match Euler') : undefined;
    // One pass: x̂₀ = x − σ·v (the image the flow is heading to, for previews and the stochastic
    // step), then x + (σ_next − σ)·v, or (1 − σ_next)·x̂₀ + σ_next·noise when stochastic; each
    // element with the float64 operations and float32 roundings of the separate combinations.
    const dt = f32(sigmaNext - sigma);
    const keep = f32(1 - sigmaNext);
    for (let k = 0; k < n; k++) {
      const v = guided ? f32(m[u + k] + g * (m[c + k] - m[u + k])) : m[k];
      const s = sample[k];
      const x = f32(0 + 1 * s + -sigma * v);
      x0[k] = x;
      prev[k] = noise ? 0 + keep * x + sigmaNext * noise[k] : 0 + 1 * s + dt * v;
    }
    this.stepIndex.advance();
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /**
   * diffusers' scale_noise, the flow's forward process: σ(t)·noise + (1 − σ(t))·x. `t` is looked
   * up among the timesteps unless a begin index was set (image-to-image starts part-way).
   */
  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.stepIndex.forAddNoise(this.timesteps, t)];
    return linearCombination([sigma, noise], [f32(1 - sigma), original]);
  }
}

/** diffusers' stretch_shift_to_terminal: rescale 1 − σ so that the last sigma is `terminal`. */
function stretchToTerminal(sigmas: number[], terminal: number): number[] {
  const scaleFactor = (1 - sigmas[sigmas.length - 1]) / (1 - terminal);
  return sigmas.map((s) => 1 - (1 - s) / scaleFactor);
}

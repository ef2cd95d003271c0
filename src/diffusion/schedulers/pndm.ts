// diffusers' PNDMScheduler (pseudo numerical methods, Liu et al. 2022): four-step Runge-Kutta
// warm-up (PRK) then linear multistep (PLMS). Stable Diffusion 1.x ships it with
// skip_prk_steps, where PLMS warms itself up with a second-order first step.
import { z } from 'zod';
import { noiseScheduleFields, parseSchedulerConfig } from './config.js';
import { linearCombination } from './elementwise.js';
import { alphaProdAt, ddpmAddNoise, noiseSchedule, spacedTimesteps } from './noise-schedule.js';
import type { Scheduler, StepOutput } from './types.js';

const pndmConfigSchema = z.object({
  ...noiseScheduleFields({ timestep_spacing: 'leading' }),
  skip_prk_steps: z.boolean().default(false),
  set_alpha_to_one: z.boolean().default(false),
  prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
});
export type PndmConfig = z.output<typeof pndmConfigSchema>;

/** PRK needs four model outputs per step: the last four timesteps are run as RK4. */
const PNDM_ORDER = 4;

export class PndmScheduler implements Scheduler<PndmConfig> {
  readonly name = 'pndm';
  readonly config: Readonly<PndmConfig>;
  readonly order = 1;
  readonly stochastic = false;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];
  prkTimesteps: number[] = [];
  plmsTimesteps: number[] = [];

  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private numInferenceSteps = 0;
  private counter = 0;
  /** Past model outputs (PLMS history), oldest first. */
  private ets: Float32Array[] = [];
  private curModelOutput: Float32Array | undefined;
  private curSample: Float32Array | undefined;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(pndmConfigSchema, config, 'PNDMScheduler');
    this.alphasCumprod = noiseSchedule(this.config).alphasCumprod;
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  setTimesteps(steps: number): void {
    const { num_train_timesteps: trainSteps, steps_offset, timestep_spacing, skip_prk_steps } = this.config;
    this.numInferenceSteps = steps;
    const ascending = spacedTimesteps(timestep_spacing, trainSteps, steps, steps_offset, { roundLinspace: true }).reverse();
    if (skip_prk_steps) {
      // The second-to-last timestep is repeated: PLMS's warm-up step runs it twice.
      this.prkTimesteps = [];
      this.plmsTimesteps = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)].reverse();
    } else {
      // Each of the last four timesteps t is visited as t + half-step, t, t, t − half-step…
      const half = Math.floor(Math.floor(trainSteps / steps) / 2);
      const pairs = ascending.slice(-PNDM_ORDER).flatMap((t) => [t, t + half]);
      this.prkTimesteps = pairs
        .slice(0, -1)
        .flatMap((t) => [t, t])
        .slice(1, -1)
        .reverse();
      this.plmsTimesteps = ascending.slice(0, -3).reverse();
    }
    this.timesteps = [...this.prkTimesteps, ...this.plmsTimesteps];
    this.ets = [];
    this.counter = 0;
    this.curModelOutput = undefined;
    this.curSample = undefined;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    if (this.counter < this.prkTimesteps.length && !this.config.skip_prk_steps) {
      return this.stepPrk(modelOutput, t, sample);
    }
    return this.stepPlms(modelOutput, t, sample);
  }

  /** One of the four evaluations of a Runge-Kutta step. */
  stepPrk(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    this.requireTimesteps();
    const halfStep = Math.floor(Math.floor(this.config.num_train_timesteps / this.numInferenceSteps) / 2);
    const prevTimestep = t - (this.counter % 2 ? 0 : halfStep);
    const timestep = this.prkTimesteps[Math.floor(this.counter / 4) * 4];

    let output = modelOutput;
    switch (this.counter % 4) {
      case 0:
        this.curModelOutput = this.accumulate(1 / 6, modelOutput);
        this.ets.push(modelOutput.slice());
        this.curSample = sample.slice();
        break;
      case 1:
      case 2:
        this.curModelOutput = this.accumulate(1 / 3, modelOutput);
        break;
      case 3:
        output = this.accumulate(1 / 6, modelOutput);
        this.curModelOutput = undefined;
        break;
    }
    const prevSample = this.prevSample(this.curSample ?? sample, timestep, prevTimestep, output);
    this.counter++;
    return { prevSample };
  }

  /** One linear multistep update from up to four past model outputs. */
  stepPlms(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    this.requireTimesteps();
    if (!this.config.skip_prk_steps && this.ets.length < 3) {
      throw new Error('PNDM: PLMS steps can only run after the 12 PRK steps (or set skip_prk_steps)');
    }
    const stepSize = Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
    let timestep = t;
    let prevTimestep = t - stepSize;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput.slice());
    } else {
      // Second half of the warm-up: redo the first step with the averaged slope.
      prevTimestep = t;
      timestep = t + stepSize;
    }

    const e = (back: number) => this.ets[this.ets.length - back];
    let x = sample;
    let output: Float32Array;
    if (this.ets.length === 1 && this.counter === 0) {
      output = modelOutput;
      this.curSample = sample.slice();
    } else if (this.ets.length === 1 && this.counter === 1) {
      output = linearCombination([0.5, modelOutput], [0.5, e(1)]);
      x = this.curSample ?? sample;
      this.curSample = undefined;
    } else if (this.ets.length === 2) {
      output = linearCombination([3 / 2, e(1)], [-1 / 2, e(2)]);
    } else if (this.ets.length === 3) {
      output = linearCombination([23 / 12, e(1)], [-16 / 12, e(2)], [5 / 12, e(3)]);
    } else {
      output = linearCombination([55 / 24, e(1)], [-59 / 24, e(2)], [37 / 24, e(3)], [-9 / 24, e(4)]);
    }
    const prevSample = this.prevSample(x, timestep, prevTimestep, output);
    this.counter++;
    return { prevSample };
  }

  addNoise(original: Float32Array, noise: Float32Array, t: number): Float32Array {
    return ddpmAddNoise(this.alphasCumprod, original, noise, t);
  }

  /** cur_model_output += weight × modelOutput, kept in float32 like diffusers' running sum. */
  private accumulate(weight: number, modelOutput: Float32Array): Float32Array {
    return this.curModelOutput ? linearCombination([1, this.curModelOutput], [weight, modelOutput]) : linearCombination([weight, modelOutput]);
  }

  /** Formula (9) of the PNDM paper: x_{t−δ} from x_t and the (combined) noise estimate. */
  private prevSample(sample: Float32Array, t: number, prevT: number, modelOutput: Float32Array): Float32Array {
    const alphaProd = alphaProdAt(this.alphasCumprod, t);
    const alphaProdPrev = prevT >= 0 ? alphaProdAt(this.alphasCumprod, prevT) : this.finalAlphaCumprod;
    const betaProd = 1 - alphaProd;
    const betaProdPrev = 1 - alphaProdPrev;

    let eps = modelOutput;
    if (this.config.prediction_type === 'v_prediction') {
      eps = linearCombination([Math.sqrt(alphaProd), modelOutput], [Math.sqrt(betaProd), sample]);
    }
    const sampleCoeff = Math.sqrt(alphaProdPrev / alphaProd);
    const denominator = alphaProd * Math.sqrt(betaProdPrev) + Math.sqrt(alphaProd * betaProd * alphaProdPrev);
    return linearCombination([sampleCoeff, sample], [-(alphaProdPrev - alphaProd) / denominator, eps]);
  }

  private requireTimesteps(): void {
    if (this.numInferenceSteps === 0) throw new Error('PNDM: call setTimesteps() before step()');
  }
}

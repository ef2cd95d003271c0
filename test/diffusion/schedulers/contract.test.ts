// The Scheduler contract the pipeline relies on, checked for every scheduler on the Stable
// Diffusion 1.5 config: loop shape, state reset by setTimesteps, img2img entry points.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TorchGenerator } from '../../../src/diffusion/rng.js';
import { createScheduler, type Scheduler } from '../../../src/diffusion/schedulers/index.js';
import { SCHEDULER_NAMES } from '../../../src/diffusion/types.js';
import { dummyModel, dummyNoiseDeter, dummySampleDeter } from './diffusers-fixtures.js';

const sd15Config = {
  _class_name: 'PNDMScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  clip_sample: false,
} as const;

function denoise(scheduler: Scheduler, timesteps: readonly number[], start: Float32Array): Float32Array {
  const generator = new TorchGenerator(0);
  let sample = start;
  for (const t of timesteps) {
    const input = scheduler.scaleModelInput(sample, t);
    assert.equal(input.length, sample.length);
    sample = scheduler.step(dummyModel(input, t), t, sample, generator).prevSample;
  }
  return sample;
}

for (const name of SCHEDULER_NAMES) {
  describe(`${name} scheduler contract`, () => {
    it('text-to-image loop: descending timesteps, finite output, repeatable after setTimesteps', () => {
      const scheduler = createScheduler(name, sd15Config);
      scheduler.setTimesteps(8);
      const timesteps = [...scheduler.timesteps];
      assert.ok(timesteps.length >= 8);
      for (let i = 1; i < timesteps.length; i++) assert.ok(timesteps[i] <= timesteps[i - 1], `timesteps ${timesteps}`);
      const start = dummySampleDeter().map((v) => v * scheduler.initNoiseSigma);
      const first = denoise(scheduler, timesteps, start);
      assert.ok(first.every(Number.isFinite));
      scheduler.setTimesteps(8);
      assert.deepEqual(denoise(scheduler, scheduler.timesteps, start), first);
    });

    it('image-to-image: addNoise at a later timestep, then the rest of the schedule', () => {
      const scheduler = createScheduler(name, sd15Config);
      scheduler.setTimesteps(10);
      const rest = scheduler.timesteps.slice(4);
      const noisy = scheduler.addNoise(dummySampleDeter(), dummyNoiseDeter(), rest[0]);
      assert.equal(noisy.length, dummySampleDeter().length);
      assert.ok(denoise(scheduler, rest, noisy).every(Number.isFinite));
    });

    it('does not keep references to the caller’s model output buffer', () => {
      const run = (reuse: boolean) => {
        const scheduler = createScheduler(name, sd15Config);
        scheduler.setTimesteps(6);
        const generator = new TorchGenerator(0);
        const buffer = new Float32Array(dummySampleDeter().length);
        let sample = dummySampleDeter();
        for (const t of scheduler.timesteps) {
          const out = dummyModel(scheduler.scaleModelInput(sample, t), t);
          if (reuse) buffer.set(out);
          const modelOutput = reuse ? buffer : out;
          sample = scheduler.step(modelOutput, t, sample, generator).prevSample;
        }
        return sample;
      };
      assert.deepEqual(run(true), run(false));
    });
  });
}

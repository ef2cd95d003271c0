// createScheduler / schedulerFromModelConfig / labels, and per-class defaults as diffusers'
// from_config applies them (tests/schedulers/test_schedulers.py, test_default_arguments_not_in_config).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelError } from '../../../src/diffusion/errors.js';
import { createScheduler, SCHEDULER_LABELS, schedulerFromModelConfig, schedulerLabel } from '../../../src/diffusion/schedulers/index.js';
import { SCHEDULER_NAMES } from '../../../src/diffusion/types.js';

/** runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json */
const sd15Config = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
} as const;

describe('scheduler registry', () => {
  it('every SchedulerName has a scheduler and a label', () => {
    for (const name of SCHEDULER_NAMES) {
      const scheduler = createScheduler(name, sd15Config);
      assert.equal(scheduler.name, name);
      assert.equal(typeof SCHEDULER_LABELS[name], 'string');
    }
  });

  it('maps diffusers class names, undefined for others', () => {
    assert.equal(schedulerFromModelConfig(sd15Config), 'pndm');
    const classes: [string, string][] = [
      ['DDIMScheduler', 'ddim'],
      ['DDPMScheduler', 'ddpm'],
      ['EulerDiscreteScheduler', 'euler'],
      ['EulerAncestralDiscreteScheduler', 'euler_a'],
      ['HeunDiscreteScheduler', 'heun'],
      ['LMSDiscreteScheduler', 'lms'],
      ['DPMSolverMultistepScheduler', 'dpmpp_2m'],
      ['DPMSolverSDEScheduler', 'dpmpp_sde'],
      ['UniPCMultistepScheduler', 'unipc'],
      ['LCMScheduler', 'lcm'],
      ['FlowMatchEulerDiscreteScheduler', 'flow_match_euler'],
    ];
    for (const [className, name] of classes) assert.equal(schedulerFromModelConfig({ _class_name: className }), name, className);
    assert.equal(schedulerFromModelConfig({ _class_name: 'KDPM2DiscreteScheduler' }), undefined);
    assert.equal(schedulerFromModelConfig({}), undefined);
  });

  it('Karras variants are their classes with Karras sigmas forced', () => {
    const eulerKarras = createScheduler('euler_karras', sd15Config);
    assert.equal(eulerKarras.config.timestep_spacing, 'linspace');
    assert.equal('use_karras_sigmas' in eulerKarras.config && eulerKarras.config.use_karras_sigmas, true);
    const dpmKarras = createScheduler('dpmpp_2m_karras', { ...sd15Config, use_karras_sigmas: false });
    assert.equal('use_karras_sigmas' in dpmKarras.config && dpmKarras.config.use_karras_sigmas, true);
  });

  it('labels name the options that change them', () => {
    assert.equal(SCHEDULER_LABELS.euler_a, 'Euler a');
    assert.equal(SCHEDULER_LABELS.dpmpp_sde, 'DPM++ SDE');
    assert.equal(SCHEDULER_LABELS.unipc, 'UniPC');
    assert.equal(schedulerLabel('euler', { use_karras_sigmas: true }), 'Euler Karras');
    assert.equal(schedulerLabel('euler_karras', { use_karras_sigmas: true }), 'Euler Karras');
    assert.equal(schedulerLabel('dpmpp_2m', { use_karras_sigmas: true }), 'DPM++ 2M Karras');
    assert.equal(schedulerLabel('dpmpp_2m_karras', { algorithm_type: 'sde-dpmsolver++' }), 'DPM++ 2M SDE Karras');
    assert.equal(schedulerLabel('lms', { use_karras_sigmas: true }), 'LMS Karras');
    assert.equal(schedulerLabel('dpmpp_sde', { use_karras_sigmas: true }), 'DPM++ SDE Karras');
    assert.equal(schedulerLabel('heun', {}), 'Heun');
    assert.equal(schedulerLabel('ddim', { use_karras_sigmas: true }), 'DDIM');
    assert.equal(schedulerLabel('ddpm', { use_karras_sigmas: true }), 'DDPM');
  });
});

describe('scheduler config', () => {
  it('missing keys take each class’s defaults (PNDM/DDIM leading, Euler/DPM linspace)', () => {
    assert.equal(createScheduler('pndm', sd15Config).config.timestep_spacing, 'leading');
    assert.equal(createScheduler('euler', sd15Config).config.timestep_spacing, 'linspace');
    assert.equal(createScheduler('euler', { ...sd15Config, timestep_spacing: 'trailing' }).config.timestep_spacing, 'trailing');
    assert.equal(createScheduler('dpmpp_2m', {}).config.timestep_spacing, 'linspace');
    const ddim = createScheduler('ddim', {}).config;
    assert.equal(ddim.timestep_spacing, 'leading');
    assert.equal('clip_sample' in ddim && ddim.clip_sample, true);
    const lcm = createScheduler('lcm', {}).config;
    assert.equal(lcm.beta_schedule, 'scaled_linear');
    assert.equal(lcm.beta_start, 0.00085);
    // diffusers' per-class defaults for the second set.
    assert.equal(createScheduler('ddpm', {}).config.timestep_spacing, 'leading');
    for (const name of ['heun', 'lms', 'dpmpp_sde', 'unipc'] as const) {
      assert.equal(createScheduler(name, {}).config.timestep_spacing, 'linspace', name);
    }
    assert.equal(createScheduler('heun', {}).config.beta_start, 0.00085);
    assert.equal(createScheduler('dpmpp_sde', {}).config.beta_end, 0.012);
    assert.equal(createScheduler('lms', {}).config.beta_start, 0.0001);
    const unipc = createScheduler('unipc', {}).config;
    assert.equal('solver_type' in unipc && unipc.solver_type, 'bh2');
    const ddpm = createScheduler('ddpm', {}).config;
    assert.equal('variance_type' in ddpm && ddpm.variance_type, 'fixed_small');
  });

  it('ignores unknown keys and other classes’ keys', () => {
    const euler = createScheduler('euler', { ...sd15Config, foo: 1 });
    assert.equal('skip_prk_steps' in euler.config, false);
    assert.equal('_class_name' in euler.config, false);
    assert.equal(euler.config.steps_offset, 1);
  });

  it('rejects invalid values with a ModelError naming the key', () => {
    assert.throws(
      () => createScheduler('euler', { beta_schedule: 'cubic' as never }),
      (err: unknown) => err instanceof ModelError && /beta_schedule/.test(err.message),
    );
    assert.throws(() => createScheduler('ddim', { num_train_timesteps: -5 }), ModelError);
    assert.throws(() => createScheduler('nope' as never, {}), /Unknown scheduler/);
  });

  it('trained_betas override beta_start / beta_end', () => {
    const trained = Array.from({ length: 1000 }, () => 0.01);
    const a = createScheduler('ddim', { trained_betas: trained, beta_start: 0.5, set_alpha_to_one: false, clip_sample: false });
    const b = createScheduler('ddim', { trained_betas: trained, set_alpha_to_one: false, clip_sample: false });
    const x = new Float32Array([1, 2]);
    const n = new Float32Array([0.5, -0.5]);
    assert.deepEqual(a.addNoise(x, n, 10), b.addNoise(x, n, 10));
    // ᾱ_10 = 0.99^11
    const alpha = 0.99 ** 11;
    assert.ok(Math.abs(a.addNoise(x, n, 10)[0] - (Math.sqrt(alpha) + 0.5 * Math.sqrt(1 - alpha))) < 1e-5);
  });
});

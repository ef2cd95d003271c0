// FlowMatchEulerDiscreteScheduler (SD3) against values computed from diffusers' formulas
// (src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py; diffusers has no scheduler
// test with recorded values for this class). Each expected array was evaluated with numpy,
// reproducing diffusers' dtypes step by step:
//   __init__:       t = np.linspace(1, 1000, 1000, dtype=float32)[::-1]; σ = t / 1000 (float32);
//                   σ = shift·σ / (1 + (shift − 1)·σ) (float32, as torch does it);
//                   sigma_min = σ[-1].item(), sigma_max = σ[0].item()
//   set_timesteps:  ts = np.linspace(sigma_max·1000, sigma_min·1000, N) (float64); σ = ts / 1000;
//                   σ = shift·σ / (1 + (shift − 1)·σ) (float64, the shift applied a second time);
//                   sigmas = float32(σ); timesteps = sigmas × 1000 (float32); sigmas += [0]
//   step:           prev = sample + float32(σ_next − σ) · model_output
//   scale_noise:    σ·noise + (1 − σ)·sample
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelError } from '../../../src/diffusion/errors.js';
import { TorchGenerator } from '../../../src/diffusion/rng.js';
import { createScheduler, schedulerFromModelConfig, schedulerLabel } from '../../../src/diffusion/schedulers/index.js';

/** stabilityai/stable-diffusion-3-medium-diffusers scheduler/scheduler_config.json */
const sd3Config = { _class_name: 'FlowMatchEulerDiscreteScheduler', _diffusers_version: '0.29.0.dev0', num_train_timesteps: 1000, shift: 3.0 };

function assertFloat32Equal(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assert.equal(actual[i], Math.fround(expected[i]), `${what}[${i}]`);
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  // Our elementwise maths rounds once (float64 → float32); torch rounds after each operation.
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-6 * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

const SD3_28 = {
  timesteps: [
    1000.0, 987.380615234375, 974.1077270507812, 960.1293334960938, 945.3875122070312, 929.8179321289062, 913.3489990234375, 895.9003295898438,
    877.3818969726562, 857.6923217773438, 836.7166748046875, 814.3247680664062, 790.3682861328125, 764.6771240234375, 737.0558471679688, 707.2785034179688,
    675.0823364257812, 640.1602172851562, 602.1505737304688, 560.625, 515.0720825195312, 464.87603759765625, 409.288818359375, 347.39263916015625,
    278.0487976074219, 199.8269805908203, 110.90573120117188, 8.928571701049805,
  ],
  sigmas: [
    1.0, 0.9873806238174438, 0.9741077423095703, 0.9601293206214905, 0.9453874826431274, 0.9298179149627686, 0.9133489727973938, 0.895900309085846,
    0.8773819208145142, 0.857692301273346, 0.8367166519165039, 0.8143247961997986, 0.7903682589530945, 0.764677107334137, 0.7370558381080627,
    0.7072784900665283, 0.6750823259353638, 0.6401602029800415, 0.602150559425354, 0.5606250166893005, 0.5150721073150635, 0.4648760259151459,
    0.40928882360458374, 0.34739264845848083, 0.2780487835407257, 0.19982698559761047, 0.1109057292342186, 0.008928571827709675, 0.0,
  ],
};

describe('Flow Match Euler schedule (diffusers formulas)', () => {
  it('SD3 (shift 3.0), 28 steps: timesteps from 1000 down to 8.93, sigmas = timesteps / 1000 then 0', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(28);
    assertFloat32Equal(s.timesteps, SD3_28.timesteps, 'timesteps');
    const sigmas = (s as unknown as { sigmas: Float32Array }).sigmas;
    assertFloat32Equal(sigmas, SD3_28.sigmas, 'sigmas');
  });

  it('SD3 (shift 3.0), 4 steps (SD 3.5 Large Turbo)', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(4);
    assertFloat32Equal(s.timesteps, [1000.0, 857.6923217773438, 602.1505737304688, 8.928571701049805], 'timesteps');
    assertFloat32Equal((s as unknown as { sigmas: Float32Array }).sigmas, [1.0, 0.857692301273346, 0.602150559425354, 0.008928571827709675, 0.0], 'sigmas');
  });

  it('shift 1.0 (the class default): an even spread from 1000 to sigma_min = 0.001', () => {
    const s = createScheduler('flow_match_euler', {});
    assert.equal(s.config.shift, 1);
    s.setTimesteps(28);
    assertFloat32Equal(
      s.timesteps,
      Array.from({ length: 28 }, (_, i) => 1000 - 37 * i),
      'timesteps',
    );
    const sigmas = (s as unknown as { sigmas: Float32Array }).sigmas;
    // float32(np.linspace(1000, 1, 28) / 1000): 0.963 → 0.9629999995231628 and so on.
    assertFloat32Equal(sigmas, [...Array.from({ length: 28 }, (_, i) => (1000 - 37 * i) / 1000), 0], 'sigmas');
    s.setTimesteps(4);
    assertFloat32Equal(s.timesteps, [1000.0, 667.0, 334.0, 1.0], 'timesteps');
    assertFloat32Equal((s as unknown as { sigmas: Float32Array }).sigmas, [1.0, 0.6669999957084656, 0.33399999141693115, 0.0010000000474974513, 0.0], 'sigmas');
  });

  it('before setTimesteps: the shifted training schedule, 1000 entries from 1000', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    assert.equal(s.timesteps.length, 1000);
    assert.equal(s.timesteps[0], 1000);
    // σ_min = 3·0.001 / (1 + 2·0.001) in float32 = 0.002994012087583542; × 1000 in float32.
    assert.equal(s.timesteps[999], Math.fround(Math.fround(0.002994012087583542) * 1000));
  });

  it('the flow needs no input scaling and unscaled noise', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(4);
    const x = new Float32Array([1, 2, 3]);
    assert.equal(s.scaleModelInput(x, s.timesteps[0]), x);
    assert.equal(s.initNoiseSigma, 1);
    assert.equal(s.order, 1);
    assert.equal(s.stochastic, false);
  });
});

// Fixed data for step / scale_noise (float32).
const sample = new Float32Array([0.5, -1.25, 2.0, 0.0, -0.3333]);
const velocity = new Float32Array([-0.75, 0.4, 1.5, -2.0, 0.125]);
const noise = new Float32Array([1.0, -0.5, 0.25, 2.5, -1.75]);

describe('Flow Match Euler step and scale_noise (diffusers formulas)', () => {
  it('step: sample + (σ_next − σ)·v, and x̂₀ = sample − σ·v, at the first, a middle and the last step', () => {
    const expected: Record<number, { prev: number[]; x0: number[] }> = {
      0: {
        prev: [0.5094645023345947, -1.2550477981567383, 1.9810709953308105, 0.025238752365112305, -0.3348774313926697],
        x0: [1.25, -1.649999976158142, 0.5, 2.0, -0.45829999446868896],
      },
      13: {
        prev: [0.5207159519195557, -1.2610485553741455, 1.9585680961608887, 0.05524253845214844, -0.33675265312194824],
        x0: [1.0735077857971191, -1.5558708906173706, 0.8529843091964722, 1.529354214668274, -0.4288846254348755],
      },
      // The last step lands on σ = 0: the result is x̂₀.
      27: {
        prev: [0.5066964030265808, -1.2535713911056519, 1.9866071939468384, 0.01785714365541935, -0.33441606163978577],
        x0: [0.5066964030265808, -1.2535713911056519, 1.9866071939468384, 0.01785714365541935, -0.33441606163978577],
      },
    };
    for (const [index, values] of Object.entries(expected)) {
      const s = createScheduler('flow_match_euler', sd3Config);
      s.setTimesteps(28);
      s.setBeginIndex?.(Number(index));
      const out = s.step(velocity, s.timesteps[Number(index)], sample);
      assertClose(out.prevSample, values.prev, `prev_sample at step ${index}`);
      assertClose(out.predOriginalSample ?? [], values.x0, `x0 at step ${index}`);
    }
  });

  it('step without a begin index finds its place from the timestep', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(28);
    const out = s.step(velocity, s.timesteps[13], sample);
    assertClose(out.prevSample, [0.5207159519195557, -1.2610485553741455, 1.9585680961608887, 0.05524253845214844, -0.33675265312194824], 'prev');
  });

  it('addNoise is scale_noise: σ(t)·noise + (1 − σ(t))·sample, t looked up among the timesteps', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(28);
    assertClose(s.addNoise(sample, noise, s.timesteps[0]), [1.0, -0.5, 0.25, 2.5, -1.75], 'σ = 1');
    assertClose(
      s.addNoise(sample, noise, s.timesteps[7]),
      [0.9479501247406006, -0.5780747532844543, 0.4321744441986084, 2.239750862121582, -1.6025220155715942],
      't = 895.90',
    );
    assertClose(
      s.addNoise(sample, noise, s.timesteps[20]),
      [0.7575360536575317, -0.8636959195137024, 1.0986237525939941, 1.2876802682876587, -1.063002586364746],
      't = 515.07',
    );
    assert.throws(() => s.addNoise(sample, noise, 123.5), /not in the scheduler's timesteps/);
  });

  it('image-to-image: with a begin index, addNoise and the first step use it', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(28);
    s.setBeginIndex?.(20);
    const noisy = s.addNoise(sample, noise, s.timesteps[20]);
    assertClose(noisy, [0.7575360536575317, -0.8636959195137024, 1.0986237525939941, 1.2876802682876587, -1.063002586364746], 'scale_noise');
    let x = noisy;
    for (const t of s.timesteps.slice(20)) x = s.step(velocity, t, x).prevSample;
    // A constant velocity integrates exactly: x₀ = noisy − σ₂₀·v.
    const sigma20 = Math.fround(0.5150721073150635);
    assertClose(
      x,
      Array.from(noisy, (v, i) => v - sigma20 * velocity[i]),
      'x after the remaining 8 steps',
    );
  });

  it('setTimesteps resets the step index', () => {
    const s = createScheduler('flow_match_euler', sd3Config);
    s.setTimesteps(4);
    const first = s.step(velocity, s.timesteps[0], sample).prevSample;
    s.setTimesteps(4);
    assert.deepEqual(s.step(velocity, s.timesteps[0], sample).prevSample, first);
  });
});

describe('Flow Match Euler config', () => {
  it('the registry maps the class, labels it, and drops other classes’ keys', () => {
    assert.equal(schedulerFromModelConfig(sd3Config), 'flow_match_euler');
    assert.equal(schedulerLabel('flow_match_euler'), 'Flow Match Euler');
    const s = createScheduler('flow_match_euler', { ...sd3Config, beta_start: 0.1, prediction_type: 'epsilon' });
    assert.equal(s.config.shift, 3);
    assert.equal('beta_start' in s.config, false);
    assert.equal(s.config.use_dynamic_shifting, false);
    assert.equal(s.config.shift_terminal, null);
  });

  it('refuses dynamic shifting and beta sigmas with a ModelError that says why', () => {
    assert.throws(
      () => createScheduler('flow_match_euler', { ...sd3Config, use_dynamic_shifting: true }),
      (err: unknown) => err instanceof ModelError && /use_dynamic_shifting/.test(err.message) && /mu/.test(err.message),
    );
    assert.throws(() => createScheduler('flow_match_euler', { use_beta_sigmas: true }), /use_beta_sigmas is not supported/);
    assert.throws(() => createScheduler('flow_match_euler', { shift: -1 }), ModelError);
  });

  it('null keys (as diffusers writes them) take the defaults', () => {
    const s = createScheduler('flow_match_euler', { ...sd3Config, shift_terminal: null, base_shift: null as never, max_shift: null as never });
    assert.equal(s.config.base_shift, 0.5);
    s.setTimesteps(28);
    assertFloat32Equal(s.timesteps, SD3_28.timesteps, 'timesteps');
  });

  it('shift_terminal stretches the schedule so that its last sigma is the terminal value', () => {
    const s = createScheduler('flow_match_euler', { ...sd3Config, shift_terminal: 0.1 });
    s.setTimesteps(4);
    const sigmas = (s as unknown as { sigmas: Float32Array }).sigmas;
    // stretch_shift_to_terminal: 1 − (1 − σ) / ((1 − σ_last) / (1 − 0.1)); the first sigma stays 1.
    assert.equal(sigmas[0], 1);
    assert.equal(sigmas[3], Math.fround(0.1));
    const scale = (1 - 0.008928571827709675) / 0.9;
    assert.equal(sigmas[1], Math.fround(1 - (1 - 0.857692301273346) / scale));
  });

  it('Karras and exponential sigmas respace the shifted schedule between its ends (_convert_to_karras / _convert_to_exponential)', () => {
    // numpy: σ_min, σ_max = the shifted schedule's ends (float64); ramp = np.linspace(0, 1, 4);
    // karras = (σ_max^(1/7) + ramp·(σ_min^(1/7) − σ_max^(1/7)))^7; exponential = exp(linspace(log σ_max, log σ_min, 4)).
    const karras = createScheduler('flow_match_euler', { ...sd3Config, use_karras_sigmas: true });
    karras.setTimesteps(4);
    assertFloat32Equal(
      (karras as unknown as { sigmas: Float32Array }).sigmas,
      [1.0, 0.2866939306259155, 0.062588632106781, 0.008928571827709675, 0],
      'karras sigmas',
    );
    assertFloat32Equal(karras.timesteps, [1000.0, 286.6939392089844, 62.58863067626953, 8.928571701049805], 'karras timesteps');
    const exponential = createScheduler('flow_match_euler', { ...sd3Config, use_exponential_sigmas: true });
    exponential.setTimesteps(4);
    assertClose(
      (exponential as unknown as { sigmas: Float32Array }).sigmas,
      [1.0, 0.20745663344860077, 0.0430382564663887, 0.008928571827709675, 0],
      'exponential sigmas',
    );
  });

  it('invert_sigmas (Mochi): sigmas 1 − σ, timesteps from them, a final 1', () => {
    const s = createScheduler('flow_match_euler', { ...sd3Config, invert_sigmas: true });
    s.setTimesteps(4);
    const sigmas = (s as unknown as { sigmas: Float32Array }).sigmas;
    assertFloat32Equal(
      sigmas,
      [
        0,
        Math.fround(1 - Math.fround(0.857692301273346)),
        Math.fround(1 - Math.fround(0.602150559425354)),
        Math.fround(1 - Math.fround(0.008928571827709675)),
        1,
      ],
      'sigmas',
    );
    assertFloat32Equal(
      s.timesteps,
      Array.from(sigmas.subarray(0, 4), (v) => Math.fround(v * 1000)),
      'timesteps',
    );
  });

  it('stochastic_sampling re-noises x̂₀ to σ_next with the job’s generator', () => {
    const s = createScheduler('flow_match_euler', { ...sd3Config, stochastic_sampling: true });
    assert.equal(s.stochastic, true);
    s.setTimesteps(4);
    assert.throws(() => s.step(velocity, s.timesteps[0], sample), /TorchGenerator/);
    s.setTimesteps(4);
    const out = s.step(velocity, s.timesteps[0], sample, new TorchGenerator(0));
    const drawn = new TorchGenerator(0).randn(sample.length);
    const sigmaNext = Math.fround(0.857692301273346);
    const x0 = Array.from(sample, (v, i) => v - velocity[i]);
    assertClose(
      out.prevSample,
      x0.map((v, i) => (1 - sigmaNext) * v + sigmaNext * drawn[i]),
      'prev',
    );
  });
});

// timestep_spacing (Table 2 of "Common Diffusion Noise Schedules and Sample Steps are Flawed")
// for every scheduler, with the values each diffusers class's set_timesteps gives for 4 steps
// over 1000 training steps (steps_offset 1 where it applies).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import type { SchedulerName } from '../../../src/diffusion/types.js';
import { SCHEDULER_NAMES } from '../../../src/diffusion/types.js';

/** The distinct step timesteps: order-2 schedulers list each step's second evaluation too. */
function stepTimesteps(name: SchedulerName, config: Record<string, unknown>): number[] {
  const scheduler = createScheduler(name, { num_train_timesteps: 1000, steps_offset: 1, skip_prk_steps: true, ...config });
  scheduler.setTimesteps(4);
  if (name === 'dpmpp_sde') return scheduler.timesteps.filter((_, i) => i % 2 === 0);
  return scheduler.timesteps.filter((t, i, all) => i === 0 || t !== all[i - 1]);
}

// diffusers' per-class rules: DDIM/DDPM/PNDM (integer, arange × ratio), the k-diffusion
// family (float, arange × ratio), DPM-Solver/UniPC (steps + 1 points, last dropped).
const EXPECTED: Record<'trailing' | 'leading' | 'linspace', Record<string, number[]>> = {
  trailing: {
    default: [999, 749, 499, 249],
  },
  leading: {
    default: [751, 501, 251, 1],
    dpmpp_2m: [801, 601, 401, 201],
    dpmpp_2m_karras: [801, 601, 401, 201],
    unipc: [801, 601, 401, 201],
  },
  linspace: {
    default: [999, 666, 333, 0],
    dpmpp_2m: [999, 749, 500, 250],
    dpmpp_2m_karras: [999, 749, 500, 250],
    unipc: [999, 749, 500, 250],
  },
};

/** Karras variants respace the sigmas, so their timesteps follow the Karras ramp instead. */
const RESPACED = new Set<SchedulerName>(['euler_karras', 'dpmpp_2m_karras']);

describe('timestep_spacing for every scheduler', () => {
  for (const name of SCHEDULER_NAMES) {
    // Their own schedules (below): LCM's from original_inference_steps, Flow Match's from σ.
    if (name === 'lcm' || name === 'flow_match_euler') continue;
    for (const spacing of ['trailing', 'leading', 'linspace'] as const) {
      if (RESPACED.has(name) && spacing !== 'trailing') continue;
      it(`${name}: ${spacing}`, () => {
        const got = stepTimesteps(name, { timestep_spacing: spacing });
        if (RESPACED.has(name)) {
          // Karras ramps start at the schedule's σ_max: the trailing schedule's first step.
          assert.ok(Math.abs(got[0] - 999) < 1e-3, `${got}`);
          return;
        }
        assert.deepEqual(got, EXPECTED[spacing][name] ?? EXPECTED[spacing].default);
      });
    }
  }

  it('PNDM (skip_prk_steps) repeats its second timestep, as diffusers: 999, 749, 749, 499, 249', () => {
    const pndm = createScheduler('pndm', { timestep_spacing: 'trailing', skip_prk_steps: true });
    pndm.setTimesteps(4);
    assert.deepEqual(pndm.timesteps, [999, 749, 749, 499, 249]);
  });

  it('Heun lists every step after the first twice: 999, 749, 749, 499, 499, 249, 249', () => {
    const heun = createScheduler('heun', { timestep_spacing: 'trailing' });
    heun.setTimesteps(4);
    assert.deepEqual(heun.timesteps, [999, 749, 749, 499, 499, 249, 249]);
  });

  it('LCM ignores timestep_spacing, as diffusers: its schedule comes from original_inference_steps', () => {
    const schedule = (timestep_spacing: string) => {
      const lcm = createScheduler('lcm', { timestep_spacing } as never);
      lcm.setTimesteps(4);
      return lcm.timesteps;
    };
    assert.deepEqual(schedule('trailing'), [999, 759, 499, 259]);
    assert.deepEqual(schedule('leading'), schedule('trailing'));
  });

  it('Flow Match Euler has no timestep_spacing key, as diffusers: σ spaced from 1 to σ_min, × 1000', () => {
    const schedule = (timestep_spacing: string) => {
      const flow = createScheduler('flow_match_euler', { timestep_spacing } as never);
      flow.setTimesteps(4);
      return flow.timesteps;
    };
    assert.deepEqual(schedule('trailing'), [1000, 667, 334, 1]);
    assert.deepEqual(schedule('leading'), schedule('trailing'));
  });
});

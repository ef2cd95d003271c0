// diffusers' progress rule: one tick per step, whatever the UNet calls per step.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createScheduler } from '../../../src/diffusion/schedulers/index.js';
import { stepCounter } from '../../../src/diffusion/schedulers/step-progress.js';
import type { SchedulerName } from '../../../src/diffusion/types.js';

/** The step count reported after each timestep entry of a run (undefined where none completes). */
function ticks(name: SchedulerName, steps: number, tStart = 0): (number | undefined)[] {
  const scheduler = createScheduler(name, { skip_prk_steps: true, steps_offset: 1 });
  scheduler.setTimesteps(steps);
  const entries = scheduler.timesteps.slice(tStart * scheduler.order);
  const counter = stepCounter(entries.length, steps - tStart, scheduler.order);
  return entries.map((_, i) => counter(i));
}

describe('stepCounter', () => {
  it('order 1: every call is a step', () => {
    assert.deepEqual(ticks('euler', 4), [1, 2, 3, 4]);
  });

  it('Heun and DPM++ SDE: 2N − 1 calls, a step completes on every second call and on the last', () => {
    for (const name of ['heun', 'dpmpp_sde'] as const) {
      assert.deepEqual(ticks(name, 4), [undefined, 1, undefined, 2, undefined, 3, 4], name);
    }
  });

  it('image-to-image from t_start × order: the remaining steps, same rule', () => {
    assert.deepEqual(ticks('heun', 5, 2), [undefined, 1, undefined, 2, 3]);
    assert.deepEqual(ticks('euler', 5, 2), [1, 2, 3]);
  });

  it('PNDM (skip_prk_steps) warms up with one extra call that completes no step', () => {
    assert.deepEqual(ticks('pndm', 4), [undefined, 1, 2, 3, 4]);
  });
});

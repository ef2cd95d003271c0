// Progress in steps, not UNet calls, by diffusers' pipeline rule: second-order schedulers (Heun,
// DPM++ SDE) list two timesteps per step, and PNDM warms up with one extra call, yet a run of N
// steps reports steps 1…N.

/**
 * Returns a function of the timestep position that gives the number of completed steps when the
 * call at that position completes one, else undefined. `entries`: the timesteps being run;
 * `steps`: the steps they make (num_inference_steps after strength); `order`: scheduler.order.
 */
export function stepCounter(entries: number, steps: number, order: number): (position: number) => number | undefined {
  // diffusers: num_warmup_steps = len(timesteps) − num_inference_steps × order.
  const warmup = entries - steps * order;
  let done = 0;
  return (position) => {
    const completes = position === entries - 1 || (position + 1 > warmup && (position + 1) % order === 0);
    return completes ? Math.min(++done, steps) : undefined;
  };
}

// AUTOMATIC1111's sampler names ↔ our schedulers (README "How the engine matches diffusers").
// A1111 ≥ 1.9 sends the sigma schedule apart (`scheduler: "Karras"`); older clients put it in the
// name ("DPM++ 2M Karras"). Our own names are accepted too.
import { isSd3Family, type ModelFamily } from '../diffusion/families.js';
import { SCHEDULER_NAMES, type SchedulerName } from '../diffusion/types.js';

export const A1111_SAMPLERS: { name: string; scheduler: SchedulerName; aliases: string[] }[] = [
  { name: 'Euler a', scheduler: 'euler_a', aliases: ['k_euler_a', 'k_euler_ancestral'] },
  { name: 'Euler', scheduler: 'euler', aliases: ['k_euler'] },
  { name: 'Euler Karras', scheduler: 'euler_karras', aliases: [] },
  { name: 'LMS', scheduler: 'lms', aliases: ['k_lms'] },
  { name: 'Heun', scheduler: 'heun', aliases: ['k_heun'] },
  { name: 'DPM++ 2M', scheduler: 'dpmpp_2m', aliases: ['k_dpmpp_2m'] },
  { name: 'DPM++ 2M Karras', scheduler: 'dpmpp_2m_karras', aliases: ['k_dpmpp_2m_ka'] },
  { name: 'DPM++ SDE', scheduler: 'dpmpp_sde', aliases: ['k_dpmpp_sde'] },
  { name: 'DDIM', scheduler: 'ddim', aliases: ['ddim'] },
  { name: 'DDPM', scheduler: 'ddpm', aliases: [] },
  { name: 'PLMS', scheduler: 'pndm', aliases: ['plms', 'PNDM'] },
  { name: 'UniPC', scheduler: 'unipc', aliases: ['unipc'] },
  { name: 'LCM', scheduler: 'lcm', aliases: ['k_lcm'] },
  { name: 'Flow Match Euler', scheduler: 'flow_match_euler', aliases: [] },
];

const norm = (s: string) => s.trim().toLowerCase();

/**
 * Our scheduler for an A1111 sampler (and optional schedule type), or undefined when unknown.
 * On a flow-matching model (SD3) "Euler" is the flow-match Euler step, as Forge runs SD3.
 */
export function schedulerFor(sampler: string, scheduleType?: string, family?: ModelFamily): SchedulerName | undefined {
  const n = norm(sampler);
  const found = A1111_SAMPLERS.find((s) => norm(s.name) === n || s.aliases.some((a) => norm(a) === n));
  const own = (SCHEDULER_NAMES as readonly string[]).includes(n) ? (n as SchedulerName) : undefined;
  const base = found?.scheduler ?? own;
  if (!base) return undefined;
  if (family && isSd3Family(family) && base === 'euler') return 'flow_match_euler';
  if (scheduleType && norm(scheduleType) === 'karras') {
    if (base === 'euler') return 'euler_karras';
    if (base === 'dpmpp_2m') return 'dpmpp_2m_karras';
  }
  return base;
}

export function a1111NameOf(scheduler: SchedulerName | undefined): string | undefined {
  return scheduler ? A1111_SAMPLERS.find((s) => s.scheduler === scheduler)?.name : undefined;
}

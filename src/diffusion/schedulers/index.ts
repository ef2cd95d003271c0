// Scheduler registry: our short names ↔ diffusers' scheduler classes. A new scheduler is one
// file plus one entry in SCHEDULERS.
import type { SchedulerName } from '../types.js';
import type { SchedulerConfig } from './config.js';
import { DdimScheduler, type DdimConfig } from './ddim.js';
import { DpmMultistepScheduler, type DpmMultistepConfig } from './dpm-multistep.js';
import { EulerAncestralScheduler, type EulerAncestralConfig } from './euler-ancestral.js';
import { EulerScheduler, type EulerConfig } from './euler.js';
import { LcmScheduler, type LcmConfig } from './lcm.js';
import { PndmScheduler, type PndmConfig } from './pndm.js';
import type { Scheduler } from './types.js';

export type { SchedulerConfig } from './config.js';
export type { NoiseGenerator, Scheduler, StepOutput } from './types.js';
export type ResolvedConfig = PndmConfig | DdimConfig | EulerConfig | EulerAncestralConfig | DpmMultistepConfig | LcmConfig;

interface SchedulerEntry {
  /** diffusers' class name, as in scheduler_config.json's _class_name. */
  className: string;
  label: string;
  create(config: Partial<SchedulerConfig>): Scheduler<ResolvedConfig>;
}

const SCHEDULERS: Record<SchedulerName, SchedulerEntry> = {
  pndm: { className: 'PNDMScheduler', label: 'PNDM', create: (c) => new PndmScheduler(c) },
  ddim: { className: 'DDIMScheduler', label: 'DDIM', create: (c) => new DdimScheduler(c) },
  euler: { className: 'EulerDiscreteScheduler', label: 'Euler', create: (c) => new EulerScheduler(c) },
  euler_a: { className: 'EulerAncestralDiscreteScheduler', label: 'Euler a', create: (c) => new EulerAncestralScheduler(c) },
  dpmpp_2m: { className: 'DPMSolverMultistepScheduler', label: 'DPM++ 2M', create: (c) => new DpmMultistepScheduler(c) },
  lcm: { className: 'LCMScheduler', label: 'LCM', create: (c) => new LcmScheduler(c) },
  // Karras variants: the same classes with Karras sigmas forced, as A1111-style UIs list them.
  euler_karras: {
    className: 'EulerDiscreteScheduler',
    label: 'Euler Karras',
    create: (c) => new EulerScheduler({ ...c, use_karras_sigmas: true, use_exponential_sigmas: false }),
  },
  dpmpp_2m_karras: {
    className: 'DPMSolverMultistepScheduler',
    label: 'DPM++ 2M Karras',
    create: (c) => new DpmMultistepScheduler({ ...c, use_karras_sigmas: true, use_exponential_sigmas: false }),
  },
  // TODO(engine II, in progress this session): replaced by real implementations.
  ddpm: { className: 'DDPMScheduler', label: 'DDPM', create: notYet('ddpm') },
  heun: { className: 'HeunDiscreteScheduler', label: 'Heun', create: notYet('heun') },
  lms: { className: 'LMSDiscreteScheduler', label: 'LMS', create: notYet('lms') },
  dpmpp_sde: { className: 'DPMSolverSDEScheduler', label: 'DPM++ SDE', create: notYet('dpmpp_sde') },
  unipc: { className: 'UniPCMultistepScheduler', label: 'UniPC', create: notYet('unipc') },
};

function notYet(name: string): () => never {
  return () => {
    throw new RangeError(`scheduler ${name} is not implemented yet`);
  };
}

/** Human names, as A1111-style UIs show them. */
export const SCHEDULER_LABELS: Readonly<Record<SchedulerName, string>> = Object.fromEntries(
  Object.entries(SCHEDULERS).map(([name, entry]) => [name, entry.label]),
) as Record<SchedulerName, string>;

/**
 * Builds a scheduler from scheduler_config.json keys (snake_case, as diffusers writes them).
 * Missing keys get that scheduler class's diffusers defaults; unknown keys are ignored.
 */
export function createScheduler(name: SchedulerName, config: Partial<SchedulerConfig> = {}): Scheduler<ResolvedConfig> {
  const entry = SCHEDULERS[name];
  if (!entry) throw new RangeError(`Unknown scheduler "${name}"; known: ${Object.keys(SCHEDULERS).join(', ')}`);
  return entry.create(config);
}

/** Our name for the scheduler class a model ships with, or undefined for classes we lack. */
export function schedulerFromModelConfig(config: { _class_name?: unknown }): SchedulerName | undefined {
  const className = config._class_name;
  const found = Object.entries(SCHEDULERS).find(([, entry]) => entry.className === className);
  return found?.[0] as SchedulerName | undefined;
}

/** The label with the options that change its name, e.g. "DPM++ 2M Karras", "DPM++ 2M SDE". */
export function schedulerLabel(name: SchedulerName, config: Partial<SchedulerConfig> = {}): string {
  let label = SCHEDULER_LABELS[name];
  if (name === 'dpmpp_2m') {
    if (config.algorithm_type === 'sde-dpmsolver++') label = 'DPM++ 2M SDE';
    if (config.solver_order === 3) label = label.replace('2M', '3M');
  }
  if (config.use_karras_sigmas === true && (name === 'euler' || name === 'dpmpp_2m')) label += ' Karras';
  return label;
}

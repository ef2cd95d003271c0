// Scheduler registry: our short names ↔ diffusers' scheduler classes. A new scheduler is one
// file plus one entry in SCHEDULERS.
import type { SchedulerName } from '../types.js';
import type { SchedulerConfig } from './config.js';
import { DdimScheduler, type DdimConfig } from './ddim.js';
import { DdpmScheduler, type DdpmConfig } from './ddpm.js';
import { DpmMultistepScheduler, type DpmMultistepConfig } from './dpm-multistep.js';
import { DpmSdeScheduler, type DpmSdeConfig } from './dpm-sde.js';
import { EulerAncestralScheduler, type EulerAncestralConfig } from './euler-ancestral.js';
import { EulerScheduler, type EulerConfig } from './euler.js';
import { type FlowMatchEulerConfig, FlowMatchEulerScheduler } from './flow-match-euler.js';
import { HeunScheduler, type HeunConfig } from './heun.js';
import { LcmScheduler, type LcmConfig } from './lcm.js';
import { LmsScheduler, type LmsConfig } from './lms.js';
import { PndmScheduler, type PndmConfig } from './pndm.js';
import type { Scheduler } from './types.js';
import { UniPcScheduler, type UniPcConfig } from './unipc.js';

export type { SchedulerConfig } from './config.js';
export type { NoiseGenerator, Scheduler, StepOutput } from './types.js';
export { stepCounter } from './step-progress.js';
export type ResolvedConfig =
  | PndmConfig
  | DdimConfig
  | DdpmConfig
  | EulerConfig
  | EulerAncestralConfig
  | HeunConfig
  | LmsConfig
  | DpmMultistepConfig
  | DpmSdeConfig
  | UniPcConfig
  | LcmConfig;
/** Any scheduler's resolved config: the diffusion schedulers' or the flow-matching one's (no betas). */
export type AnyResolvedConfig = ResolvedConfig | FlowMatchEulerConfig;
/** The schedulers built on a beta noise schedule (every name but the flow-matching one). */
export type DiffusionSchedulerName = Exclude<SchedulerName, 'flow_match_euler'>;

interface SchedulerEntry {
  /** diffusers' class name, as in scheduler_config.json's _class_name. */
  className: string;
  label: string;
  create(config: Partial<SchedulerConfig>): Scheduler<AnyResolvedConfig>;
}

const SCHEDULERS: Record<SchedulerName, SchedulerEntry> = {
  pndm: { className: 'PNDMScheduler', label: 'PNDM', create: (c) => new PndmScheduler(c) },
  ddim: { className: 'DDIMScheduler', label: 'DDIM', create: (c) => new DdimScheduler(c) },
  ddpm: { className: 'DDPMScheduler', label: 'DDPM', create: (c) => new DdpmScheduler(c) },
  euler: { className: 'EulerDiscreteScheduler', label: 'Euler', create: (c) => new EulerScheduler(c) },
  euler_a: { className: 'EulerAncestralDiscreteScheduler', label: 'Euler a', create: (c) => new EulerAncestralScheduler(c) },
  heun: { className: 'HeunDiscreteScheduler', label: 'Heun', create: (c) => new HeunScheduler(c) },
  lms: { className: 'LMSDiscreteScheduler', label: 'LMS', create: (c) => new LmsScheduler(c) },
  dpmpp_2m: { className: 'DPMSolverMultistepScheduler', label: 'DPM++ 2M', create: (c) => new DpmMultistepScheduler(c) },
  // k-diffusion's DPM++ SDE (2 UNet calls per step); its Brownian noise comes from the job's seed,
  // not from torchsde as in diffusers (see dpm-sde.ts).
  dpmpp_sde: { className: 'DPMSolverSDEScheduler', label: 'DPM++ SDE', create: (c) => new DpmSdeScheduler(c) },
  unipc: { className: 'UniPCMultistepScheduler', label: 'UniPC', create: (c) => new UniPcScheduler(c) },
  lcm: { className: 'LCMScheduler', label: 'LCM', create: (c) => new LcmScheduler(c) },
  // Rectified flow (SD3 / SD 3.5): only for models trained with flow matching.
  flow_match_euler: { className: 'FlowMatchEulerDiscreteScheduler', label: 'Flow Match Euler', create: (c) => new FlowMatchEulerScheduler(c) },
  // Karras variants: the same classes with Karras sigmas forced, as A1111-style UIs list them.
  euler_karras: {
    className: 'EulerDiscreteScheduler',
    label: 'Euler Karras',
    create: (c) => new EulerScheduler({ ...c, use_karras_sigmas: true, use_exponential_sigmas: false }, 'euler_karras'),
  },
  dpmpp_2m_karras: {
    className: 'DPMSolverMultistepScheduler',
    label: 'DPM++ 2M Karras',
    create: (c) => new DpmMultistepScheduler({ ...c, use_karras_sigmas: true, use_exponential_sigmas: false }, 'dpmpp_2m_karras'),
  },
};

/** Names whose class takes use_karras_sigmas from the config (the *_karras names force it). */
const KARRAS_CAPABLE: ReadonlySet<SchedulerName> = new Set(['euler', 'heun', 'lms', 'dpmpp_2m', 'dpmpp_sde', 'unipc']);

/** Human names, as A1111-style UIs show them. */
export const SCHEDULER_LABELS: Readonly<Record<SchedulerName, string>> = Object.fromEntries(
  Object.entries(SCHEDULERS).map(([name, entry]) => [name, entry.label]),
) as Record<SchedulerName, string>;

/**
 * Builds a scheduler from scheduler_config.json keys (snake_case, as diffusers writes them).
 * Missing keys get that scheduler class's diffusers defaults; unknown keys are ignored.
 */
export function createScheduler(name: 'flow_match_euler', config?: Partial<SchedulerConfig>): Scheduler<FlowMatchEulerConfig>;
export function createScheduler(name: DiffusionSchedulerName, config?: Partial<SchedulerConfig>): Scheduler<ResolvedConfig>;
export function createScheduler(name: SchedulerName, config?: Partial<SchedulerConfig>): Scheduler<AnyResolvedConfig>;
export function createScheduler(name: SchedulerName, config: Partial<SchedulerConfig> = {}): Scheduler<AnyResolvedConfig> {
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

/** The label with the options that change its name, e.g. "DPM++ 2M Karras", "DPM++ 2M SDE", "LMS Karras". */
export function schedulerLabel(name: SchedulerName, config: Partial<SchedulerConfig> = {}): string {
  let label = SCHEDULER_LABELS[name];
  if (name === 'dpmpp_2m' || name === 'dpmpp_2m_karras') {
    if (config.algorithm_type === 'sde-dpmsolver++') label = label.replace('2M', '2M SDE');
    if (config.solver_order === 3) label = label.replace('2M', '3M');
  }
  if (config.use_karras_sigmas === true && KARRAS_CAPABLE.has(name)) label += ' Karras';
  return label;
}

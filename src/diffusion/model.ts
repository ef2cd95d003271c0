// Reads a model folder in the diffusers ONNX layout (optimum's exporter and diffusers'
// conversion script both write it) and checks it before any session is created, so a broken
// folder gets one message that names the missing piece and the fix.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { ModelError } from './errors.js';
import type { SchedulerName } from './types.js';

export type ModelFamily = 'sd1' | 'sd2' | 'sd-turbo';

export interface ModelDefaults {
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  scheduler: SchedulerName;
}

export interface ModelInfo {
  name: string;
  dir: string;
  family: ModelFamily;
  files: {
    textEncoder: string;
    unet: string;
    vaeDecoder: string;
    vaeEncoder?: string;
    safetyChecker?: string;
  };
  tokenizerDir: string;
  schedulerConfig: Record<string, unknown>;
  vaeScalingFactor: number;
  defaults: ModelDefaults;
}

const modelIndexSchema = z.looseObject({
  _class_name: z.string().optional(),
  text_encoder_2: z.unknown().optional(),
});

const schedulerConfigSchema = z.looseObject({
  _class_name: z.string().optional(),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).optional(),
  timestep_spacing: z.string().optional(),
});

const vaeConfigSchema = z.looseObject({ scaling_factor: z.number().positive().optional() });
const unetConfigSchema = z.looseObject({ sample_size: z.number().int().positive().optional() });

const SCHEDULER_CLASSES: Record<string, SchedulerName> = {
  PNDMScheduler: 'pndm',
  DDIMScheduler: 'ddim',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  DPMSolverMultistepScheduler: 'dpmpp_2m',
  LCMScheduler: 'lcm',
};

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ModelError(`${what} (${path}) is not valid JSON: ${(err as Error).message}. Re-download the model.`);
  }
}

function readOptionalJson<T>(path: string, schema: z.ZodType<T>, what: string): T | undefined {
  if (!existsSync(path)) return undefined;
  const parsed = schema.safeParse(readJson(path, what));
  if (!parsed.success) throw new ModelError(`${what} (${path}) is malformed: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function need(dir: string, rel: string, hint: string): string {
  const p = join(dir, rel);
  if (!existsSync(p)) throw new ModelError(`Model folder ${dir} has no ${rel}. ${hint}`);
  return p;
}

/** Inspects a model folder without loading any graph. Throws ModelError with a fix. */
export function inspectModel(dirArg: string): ModelInfo {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelError(
      `Model folder ${dirArg} does not exist. Create a tiny test model with "npm run models -- create-tiny ${dirArg}" ` +
        'or download one with "npm run models -- pull <hf-repo-id>".',
    );
  }
  const exportHint = 'Expected the diffusers ONNX layout (see models/README.md); re-export with optimum-cli export onnx or re-download.';
  const index = readOptionalJson(need(dir, 'model_index.json', exportHint), modelIndexSchema, 'model_index.json');
  if (index?.text_encoder_2 !== undefined) {
    throw new ModelError(`Model ${basename(dir)} is an SDXL model (it has text_encoder_2); SDXL support is not available yet.`);
  }
  const files = {
    textEncoder: need(dir, 'text_encoder/model.onnx', exportHint),
    unet: need(dir, 'unet/model.onnx', exportHint),
    vaeDecoder: need(dir, 'vae_decoder/model.onnx', exportHint),
    vaeEncoder: existsSync(join(dir, 'vae_encoder/model.onnx')) ? join(dir, 'vae_encoder/model.onnx') : undefined,
    safetyChecker: existsSync(join(dir, 'safety_checker/model.onnx')) ? join(dir, 'safety_checker/model.onnx') : undefined,
  };
  const tokenizerDir = join(dir, 'tokenizer');
  for (const f of ['vocab.json', 'merges.txt']) need(dir, `tokenizer/${f}`, exportHint);

  const schedulerConfig =
    readOptionalJson(need(dir, 'scheduler/scheduler_config.json', exportHint), schedulerConfigSchema, 'scheduler_config.json') ?? {};
  const vae =
    readOptionalJson(join(dir, 'vae_decoder/config.json'), vaeConfigSchema, 'vae_decoder/config.json') ??
    readOptionalJson(join(dir, 'vae/config.json'), vaeConfigSchema, 'vae/config.json');
  const unet = readOptionalJson(join(dir, 'unet/config.json'), unetConfigSchema, 'unet/config.json');

  const name = basename(dir);
  const vPrediction = schedulerConfig.prediction_type === 'v_prediction';
  const turbo = /turbo/i.test(name);
  const family: ModelFamily = turbo ? 'sd-turbo' : vPrediction ? 'sd2' : 'sd1';
  const side = (unet?.sample_size ?? (family === 'sd2' ? 96 : 64)) * 8;
  const scheduler = SCHEDULER_CLASSES[schedulerConfig._class_name ?? ''] ?? 'pndm';

  // Defaults from each family's model card: SD-Turbo is a 1-step, guidance-free model.
  const defaults: ModelDefaults =
    family === 'sd-turbo'
      ? { width: side, height: side, steps: 1, guidanceScale: 0, scheduler }
      : { width: side, height: side, steps: 30, guidanceScale: 7.5, scheduler };

  return {
    name,
    dir,
    family,
    files,
    tokenizerDir,
    schedulerConfig,
    vaeScalingFactor: vae?.scaling_factor ?? 0.18215,
    defaults,
  };
}

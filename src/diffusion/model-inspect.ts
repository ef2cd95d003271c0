// Reads a model folder in the diffusers ONNX layout (optimum's exporter and diffusers'
// conversion script both write it) and checks it before any session is created, so a broken
// folder gets one message that names the missing piece and the fix.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { ModelError } from './errors.js';
import { detectFamily, detectSd3Family, FAMILY_DEFAULTS, isSdxlFamily, LCM_LORA_GUIDANCE, type ModelFamily } from './families.js';
import type { SchedulerName } from './types.js';

export { FAMILY_DEFAULTS, type ModelFamily } from './families.js';

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
    /** SDXL's and SD3's second text encoder (CLIPTextModelWithProjection). */
    textEncoder2?: string;
    /** SD3's T5 encoder, when the folder has one (optional: without it the pipeline feeds zeros). */
    textEncoder3?: string;
    /** The denoiser: unet/model.onnx, or for SD3 the MMDiT's transformer/model.onnx (unet/ in TensorStack's exports). */
    unet: string;
    vaeDecoder: string;
    vaeEncoder?: string;
    safetyChecker?: string;
  };
  tokenizerDir: string;
  /** SDXL's and SD3's tokenizer_2 (pads with '!'). */
  tokenizer2Dir?: string;
  /** SD3's tokenizer_3 (T5, tokenizer.json), present with text_encoder_3. */
  tokenizer3Dir?: string;
  /** 4, or 16 for SD3's VAE. */
  latentChannels: 4 | 16;
  /** SD3's transformer: joint_attention_dim (T5's width) from its config.json, when it says. */
  jointAttentionDim?: number;
  /** num_hidden_layers of text_encoder and text_encoder_2, when their configs say (SDXL reads layer n − 1). */
  textEncoderLayers: { textEncoder?: number; textEncoder2?: number };
  /** SDXL: an absent negative prompt gives zero embeddings, not the encoded "" (model_index.json, default true). */
  forceZerosForEmptyPrompt: boolean;
  /** LCM: width of the guidance-scale embedding the UNet takes as timestep_cond. */
  timeCondProjDim?: number;
  /** The model's scheduler config, with the family's required overrides (turbo: trailing spacing). */
  schedulerConfig: Record<string, unknown>;
  vaeScalingFactor: number;
  /** The VAE config's shift_factor (SD3: latents = (z − shift) · scale); 0 when it has none. */
  vaeShiftFactor: number;
  defaults: ModelDefaults;
}

const componentSchema = z.array(z.string().nullable()).optional();
const modelIndexSchema = z.looseObject({
  _class_name: z.string().optional(),
  _name_or_path: z.string().optional(),
  text_encoder: componentSchema,
  text_encoder_2: componentSchema,
  text_encoder_3: componentSchema,
  transformer: componentSchema,
  force_zeros_for_empty_prompt: z.boolean().optional(),
});

const schedulerConfigSchema = z.looseObject({
  _class_name: z.string().optional(),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).optional(),
  timestep_spacing: z.string().optional(),
});

const vaeConfigSchema = z.looseObject({ scaling_factor: z.number().positive().optional(), shift_factor: z.number().nullable().optional() });
const sd3TransformerConfigSchema = z.looseObject({
  _class_name: z.string().optional(),
  num_layers: z.number().int().positive().optional(),
  joint_attention_dim: z.number().int().positive().optional(),
  dual_attention_layers: z.array(z.number()).nullable().optional(),
  qk_norm: z.string().nullable().optional(),
  /** Latent side (128 in Stability's configs: 1024 px). */
  sample_size: z.number().int().positive().optional(),
});
const SD3_TRANSFORMER_CLASS = 'SD3Transformer2DModel';
const unetConfigSchema = z.looseObject({
  sample_size: z.number().int().positive().optional(),
  cross_attention_dim: z.union([z.number().int().positive(), z.array(z.number().int().positive())]).optional(),
  time_cond_proj_dim: z.number().int().positive().nullable().optional(),
});
const textEncoderConfigSchema = z.looseObject({ num_hidden_layers: z.number().int().positive().optional() });

const SCHEDULER_CLASSES: Record<string, SchedulerName> = {
  PNDMScheduler: 'pndm',
  DDIMScheduler: 'ddim',
  DDPMScheduler: 'ddpm',
  EulerDiscreteScheduler: 'euler',
  EulerAncestralDiscreteScheduler: 'euler_a',
  HeunDiscreteScheduler: 'heun',
  LMSDiscreteScheduler: 'lms',
  DPMSolverMultistepScheduler: 'dpmpp_2m',
  DPMSolverSDEScheduler: 'dpmpp_sde',
  UniPCMultistepScheduler: 'unipc',
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
  const listed = (component: z.infer<typeof componentSchema>) => component !== undefined && component[1] !== null;
  if (isSd3Folder(dir, index)) return inspectSd3(dir, index, exportHint);
  const twoTextEncoders = listed(index?.text_encoder_2) || existsSync(join(dir, 'text_encoder_2'));
  if (twoTextEncoders && index?.text_encoder !== undefined && !listed(index.text_encoder)) {
    throw new ModelError(
      `Model ${basename(dir)} is an SDXL refiner (text_encoder_2 only), which refines other models' images and cannot draw from a prompt. Use an SDXL base model.`,
    );
  }
  const files = {
    textEncoder: need(dir, 'text_encoder/model.onnx', exportHint),
    textEncoder2: twoTextEncoders ? need(dir, 'text_encoder_2/model.onnx', exportHint) : undefined,
    unet: need(dir, 'unet/model.onnx', exportHint),
    vaeDecoder: need(dir, 'vae_decoder/model.onnx', exportHint),
    vaeEncoder: existsSync(join(dir, 'vae_encoder/model.onnx')) ? join(dir, 'vae_encoder/model.onnx') : undefined,
    safetyChecker: existsSync(join(dir, 'safety_checker/model.onnx')) ? join(dir, 'safety_checker/model.onnx') : undefined,
  };
  const tokenizerDir = join(dir, 'tokenizer');
  for (const f of ['vocab.json', 'merges.txt']) need(dir, `tokenizer/${f}`, exportHint);
  const tokenizer2Dir = twoTextEncoders ? join(dir, 'tokenizer_2') : undefined;
  if (tokenizer2Dir) for (const f of ['vocab.json', 'merges.txt']) need(dir, `tokenizer_2/${f}`, exportHint);

  const modelScheduler = readOptionalJson(need(dir, 'scheduler/scheduler_config.json', exportHint), schedulerConfigSchema, 'scheduler_config.json') ?? {};
  const vae =
    readOptionalJson(join(dir, 'vae_decoder/config.json'), vaeConfigSchema, 'vae_decoder/config.json') ??
    readOptionalJson(join(dir, 'vae/config.json'), vaeConfigSchema, 'vae/config.json');
  const unet = readOptionalJson(join(dir, 'unet/config.json'), unetConfigSchema, 'unet/config.json');
  const layers = (part: string) => readOptionalJson(join(dir, part, 'config.json'), textEncoderConfigSchema, `${part}/config.json`)?.num_hidden_layers;

  const name = basename(dir);
  const timeCondProjDim = unet?.time_cond_proj_dim ?? undefined;
  const crossAttentionDim = Array.isArray(unet?.cross_attention_dim) ? unet.cross_attention_dim[0] : unet?.cross_attention_dim;
  const family: ModelFamily = detectFamily({
    names: [name, index?._name_or_path ?? ''],
    twoTextEncoders,
    vPrediction: modelScheduler.prediction_type === 'v_prediction',
    crossAttentionDim,
    timeCondProjDim,
    schedulerClass: modelScheduler._class_name,
  });
  const card = FAMILY_DEFAULTS[family];
  const schedulerConfig = card.timestepSpacing ? { ...modelScheduler, timestep_spacing: card.timestepSpacing } : modelScheduler;
  const side = card.sizeFrom === 'config' && unet?.sample_size ? unet.sample_size * 8 : card.size;
  const scheduler = card.scheduler === 'model' ? (SCHEDULER_CLASSES[modelScheduler._class_name ?? ''] ?? 'pndm') : card.scheduler;
  const lcmLora = (family === 'lcm' || family === 'sdxl-lcm') && timeCondProjDim === undefined;
  const defaults: ModelDefaults = {
    width: side,
    height: side,
    steps: card.steps,
    guidanceScale: lcmLora ? LCM_LORA_GUIDANCE : card.guidanceScale,
    scheduler,
  };

  return {
    name,
    dir,
    family,
    files,
    tokenizerDir,
    tokenizer2Dir,
    textEncoderLayers: { textEncoder: layers('text_encoder'), textEncoder2: twoTextEncoders ? layers('text_encoder_2') : undefined },
    // diffusers' StableDiffusionXLPipeline registers force_zeros_for_empty_prompt=True by default.
    forceZerosForEmptyPrompt: isSdxlFamily(family) && (index?.force_zeros_for_empty_prompt ?? true),
    timeCondProjDim,
    schedulerConfig,
    vaeScalingFactor: vae?.scaling_factor ?? 0.18215,
    vaeShiftFactor: 0,
    latentChannels: 4,
    defaults,
  };
}

type ModelIndex = z.infer<typeof modelIndexSchema>;

/**
 * An SD3 folder: model_index.json says StableDiffusion3Pipeline or lists a transformer, or the
 * folder has transformer/ or text_encoder_3/, or its unet/ holds an SD3Transformer2DModel
 * (TensorStack's ONNX exports keep the MMDiT under unet/).
 */
function isSd3Folder(dir: string, index: ModelIndex | undefined): boolean {
  if (/StableDiffusion3/.test(index?._class_name ?? '')) return true;
  if (index?.transformer?.[1] || index?.text_encoder_3?.[1]) return true;
  if (existsSync(join(dir, 'transformer')) || existsSync(join(dir, 'text_encoder_3'))) return true;
  const unetConfig = join(dir, 'unet', 'config.json');
  return existsSync(unetConfig) && readOptionalJson(unetConfig, sd3TransformerConfigSchema, 'unet/config.json')?._class_name === SD3_TRANSFORMER_CLASS;
}

/**
 * Stable Diffusion 3.x in the diffusers ONNX layout (models/README.md, "Stable Diffusion 3.x"):
 * both CLIPs with their tokenizers, the transformer, the VAE decoder and the scheduler are
 * required; text_encoder_3 (T5) is optional, and needs tokenizer_3/tokenizer.json when present.
 */
function inspectSd3(dir: string, index: ModelIndex | undefined, exportHint: string): ModelInfo {
  const sd3Hint =
    'Expected the diffusers ONNX layout of Stable Diffusion 3 (see models/README.md, "Stable Diffusion 3.x"); re-export it or re-download the full model.';
  const denoiserDir = existsSync(join(dir, 'transformer')) || !existsSync(join(dir, 'unet')) ? 'transformer' : 'unet';
  const textEncoder3 = existsSync(join(dir, 'text_encoder_3/model.onnx')) ? join(dir, 'text_encoder_3/model.onnx') : undefined;
  const files = {
    textEncoder: need(dir, 'text_encoder/model.onnx', sd3Hint),
    textEncoder2: need(dir, 'text_encoder_2/model.onnx', sd3Hint),
    textEncoder3,
    unet: need(dir, `${denoiserDir}/model.onnx`, sd3Hint),
    vaeDecoder: need(dir, 'vae_decoder/model.onnx', sd3Hint),
    vaeEncoder: existsSync(join(dir, 'vae_encoder/model.onnx')) ? join(dir, 'vae_encoder/model.onnx') : undefined,
    safetyChecker: existsSync(join(dir, 'safety_checker/model.onnx')) ? join(dir, 'safety_checker/model.onnx') : undefined,
  };
  for (const t of ['tokenizer', 'tokenizer_2']) for (const f of ['vocab.json', 'merges.txt']) need(dir, `${t}/${f}`, sd3Hint);
  // T5 without its tokenizer cannot be fed; say so instead of silently feeding zeros.
  if (textEncoder3)
    need(dir, 'tokenizer_3/tokenizer.json', 'text_encoder_3 (T5) needs it; re-download tokenizer_3/, or delete text_encoder_3/ to run without T5.');
  const modelScheduler = readOptionalJson(need(dir, 'scheduler/scheduler_config.json', exportHint), schedulerConfigSchema, 'scheduler_config.json') ?? {};
  if (modelScheduler._class_name !== undefined && modelScheduler._class_name !== 'FlowMatchEulerDiscreteScheduler') {
    throw new ModelError(
      `Model ${basename(dir)} is Stable Diffusion 3 but its scheduler_config.json names ${modelScheduler._class_name}; SD3 samples with FlowMatchEulerDiscreteScheduler. Re-download scheduler/.`,
    );
  }
  const vae =
    readOptionalJson(join(dir, 'vae_decoder/config.json'), vaeConfigSchema, 'vae_decoder/config.json') ??
    readOptionalJson(join(dir, 'vae/config.json'), vaeConfigSchema, 'vae/config.json');
  const transformer = readOptionalJson(join(dir, denoiserDir, 'config.json'), sd3TransformerConfigSchema, `${denoiserDir}/config.json`);
  const layers = (part: string) => readOptionalJson(join(dir, part, 'config.json'), textEncoderConfigSchema, `${part}/config.json`)?.num_hidden_layers;
  const name = basename(dir);
  const family = detectSd3Family([name, index?._name_or_path ?? ''], {
    numLayers: transformer?.num_layers,
    dualAttention: (transformer?.dual_attention_layers ?? []).length > 0,
    qkNorm: typeof transformer?.qk_norm === 'string',
  });
  const card = FAMILY_DEFAULTS[family];
  const side = card.sizeFrom === 'config' && transformer?.sample_size ? transformer.sample_size * 8 : card.size;
  return {
    name,
    dir,
    family,
    files,
    tokenizerDir: join(dir, 'tokenizer'),
    tokenizer2Dir: join(dir, 'tokenizer_2'),
    tokenizer3Dir: textEncoder3 ? join(dir, 'tokenizer_3') : undefined,
    textEncoderLayers: { textEncoder: layers('text_encoder'), textEncoder2: layers('text_encoder_2') },
    // StableDiffusion3Pipeline encodes "" for a missing negative prompt; it has no zeroing switch.
    forceZerosForEmptyPrompt: false,
    schedulerConfig: modelScheduler,
    // stabilityai/stable-diffusion-3-medium-diffusers' vae/config.json, when the export lacks one.
    vaeScalingFactor: vae?.scaling_factor ?? 1.5305,
    vaeShiftFactor: vae?.shift_factor ?? 0.0609,
    latentChannels: 16,
    jointAttentionDim: transformer?.joint_attention_dim,
    defaults: { width: side, height: side, steps: card.steps, guidanceScale: card.guidanceScale, scheduler: 'flow_match_euler' },
  };
}

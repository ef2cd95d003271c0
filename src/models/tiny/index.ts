// A tiny random-weight Stable Diffusion in exactly the folder layout and ONNX signatures of
// real exports (optimum-cli export onnx, diffusers' convert_stable_diffusion_checkpoint_to_onnx),
// so tests and a newcomer's first offline run exercise the real loading and sampling code.
// The same options always give byte-identical files.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { EncodedModel } from '../onnx/builder.js';
import { writeClipTokenizerFiles } from '../tokenizer-files.js';
import { SCHEDULER_CLASSES, unetConfig, vaeConfig, type SchedulerClass } from './configs.js';
import { LAYOUT_ONLY_PARTS, layoutPlan, TINY_LAYOUTS, type TinyLayout } from './layouts.js';
import { buildTextEncoder } from './text-encoder.js';
import { buildUnet, type PredictionType, type TimestepInput } from './unet.js';
import { buildVaeDecoder, buildVaeEncoder } from './vae.js';
import { textEncoderModules, UNET_MODULES, withTorchExportNames } from './export-names.js';
import { safetyCheckerModeSchema, writeTinySafetyChecker, type SafetyCheckerMode } from './safety-checker.js';

export type { SchedulerClass } from './configs.js';
export { TINY_LAYOUTS, type TinyLayout } from './layouts.js';
export type { PredictionType, TimestepInput } from './unet.js';
export type { SafetyCheckerMode } from './safety-checker.js';
export { createTinyUpscaler, type TinyUpscalerOptions } from './upscaler.js';
export { createTinyEmbedding, createTinyLora, type TinyLoraOptions } from './lora.js';
export { createTinyControlNet, type TinyControlNetOptions } from './controlnet.js';
import { residualUnetConfig } from './unet-residuals.js';
import { SD3_ONLY_PARTS, writeTinySd3 } from './sd3.js';

export interface TinyModelOptions {
  /**
   * Which family's export to imitate: 'sd' (SD 1.x, the default), 'sdxl' (two text encoders,
   * text_embeds + time_ids), 'lcm' (timestep_cond, LCMScheduler), 'sdxl-lcm' (see layouts.ts)
   * or 'sd3' (Stable Diffusion 3: three text encoders, an MMDiT transformer, a 16-channel VAE; sd3.ts).
   */
  layout?: TinyLayout;
  /** SD3 only: write text_encoder_3 (T5) and tokenizer_3 (default true); false = the --no-t5 variant. */
  t5?: boolean;
  /** float16 graph inputs, outputs and weights, as fp16 exports have (default false). */
  float16?: boolean;
  /**
   * The UNet's timestep input: 'int64' [n] (early diffusers exports, the default), 'float' [n]
   * (diffusers' conversion script) or 'float-scalar' rank 0 (recent optimum).
   */
  timestep?: TimestepInput;
  /** 'latent_sample' (diffusers' script, default) or 'latent_parameters' = mean ‖ logvar (optimum). */
  vaeEncoderOutput?: 'latent_sample' | 'latent_parameters';
  /** Written to scheduler_config.json; the UNet predicts accordingly (default 'epsilon'). */
  predictionType?: PredictionType;
  /** scheduler_config.json's _class_name (default: the layout's, SD 1.5's 'PNDMScheduler'). */
  scheduler?: SchedulerClass;
  /** The tokenizer's pad token: SD 1.x pads with '<|endoftext|>' (default), SD 2.x with '!'. */
  padToken?: '<|endoftext|>' | '!';
  /** UNet weights in a side file: true or 'model.onnx_data' (optimum), 'weights.pb' (diffusers' script). */
  externalData?: boolean | 'model.onnx_data' | 'weights.pb';
  /** Text hidden size = the UNet's cross_attention_dim (default 32). */
  hidden?: number;
  /** UNet channels, even (default 32). */
  channels?: number;
  /** Weight seed (default 1234). */
  seed?: number;
  /**
   * Adds safety_checker/ (real exports' IO) + feature_extractor/ with a checker that flags on
   * demand: 'never', 'always', or { meanAbove: t } = when the mean of the CLIP-normalised input
   * exceeds t (about -1.8 black … +1.9 white), so bright pictures get flagged. Default: none.
   */
  safetyChecker?: SafetyCheckerMode;
  /**
   * An inpainting model, as runwayml/stable-diffusion-inpainting exports: a UNet whose sample
   * has 9 channels (latents, mask, masked-image latents), unet in_channels 9, and model_index
   * _class_name StableDiffusion(XL)InpaintPipeline. Default false.
   */
  inpainting?: boolean;
  /**
   * Names weights and nodes as torch.onnx.export does (export-names.ts): module-named Conv
   * weights, anonymous MatMul weights, module scopes on nodes (UNet or SD3 transformer, and the CLIPs).
   * What LoRAs are mapped by. Default false.
   */
  exportNames?: boolean;
  /** A ControlNet-ready UNet (down_block_0 … 3 + mid_block_additional_residual inputs; controlnet.ts). Default false. */
  controlnetUnet?: boolean;
}

const optionsSchema = z.object({
  layout: z.enum(TINY_LAYOUTS).optional(),
  float16: z.boolean().optional(),
  timestep: z.enum(['int64', 'float', 'float-scalar']).optional(),
  vaeEncoderOutput: z.enum(['latent_sample', 'latent_parameters']).optional(),
  predictionType: z.enum(['epsilon', 'v_prediction']).optional(),
  scheduler: z.enum(SCHEDULER_CLASSES).optional(),
  padToken: z.enum(['<|endoftext|>', '!']).optional(),
  externalData: z.union([z.boolean(), z.enum(['model.onnx_data', 'weights.pb'])]).optional(),
  hidden: z.number().int().min(2).max(1024).optional(),
  channels: z
    .number()
    .int()
    .min(2)
    .max(1024)
    .refine((c) => c % 2 === 0, 'channels must be even')
    .optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  safetyChecker: safetyCheckerModeSchema.optional(),
  inpainting: z.boolean().optional(),
  exportNames: z.boolean().optional(),
  controlnetUnet: z.boolean().optional(),
  t5: z.boolean().optional(),
});

/** Options that only a UNet layout has: an SD3 request with one of them is refused, not ignored. */
const UNET_ONLY_OPTIONS = ['timestep', 'predictionType', 'scheduler', 'padToken', 'externalData', 'channels', 'inpainting', 'controlnetUnet'] as const;

const PARTS = ['scheduler', 'tokenizer', 'text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;
const EXTERNAL_FILES = ['model.onnx_data', 'weights.pb'] as const;

function checkTarget(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder; choose a new or empty folder for the tiny model.`);
  if (readdirSync(dir).length > 0 && !existsSync(join(dir, 'model_index.json'))) {
    throw new Error(`${dir} is not empty and is not a model folder (no model_index.json); choose a new or empty folder.`);
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function writeModel(partDir: string, encoded: EncodedModel): Promise<void> {
  await writeFile(join(partDir, 'model.onnx'), encoded.model);
  // A previous variant's side file would be stale; only the current one may remain.
  for (const f of EXTERNAL_FILES) {
    if (f !== encoded.externalData?.location) await rm(join(partDir, f), { force: true });
  }
  if (encoded.externalData) await writeFile(join(partDir, encoded.externalData.location), encoded.externalData.bytes);
}

/**
 * Writes a tiny random-weight SD model folder at `dir` (created if missing; an existing model
 * folder is overwritten). Refuses a non-empty folder that is not a model.
 */
export async function createTinyModel(dir: string, options: TinyModelOptions = {}): Promise<void> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`Invalid tiny model options: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  if (o.layout === 'sd3') {
    const unsupported = UNET_ONLY_OPTIONS.filter((k) => o[k] !== undefined && o[k] !== false);
    if (unsupported.length > 0) throw new Error(`Invalid tiny model options: ${unsupported.join(', ')} do not apply to the sd3 layout`);
  } else if (o.t5 !== undefined) {
    throw new Error('Invalid tiny model options: t5 (--no-t5) applies only to the sd3 layout');
  }
  checkTarget(dir);
  if (o.layout === 'sd3') {
    await mkdir(dir, { recursive: true });
    await writeTinySd3(dir, {
      hidden: o.hidden ?? 32,
      float: o.float16 ? 'float16' : 'float32',
      seed: o.seed ?? 1234,
      t5: o.t5 ?? true,
      vaeEncoderOutput: o.vaeEncoderOutput ?? 'latent_parameters',
      exportNames: o.exportNames ?? false,
      writeModel,
    });
    await writeTinySafetyChecker(dir, o.safetyChecker, o.float16 ? 'float16' : 'float32');
    return;
  }

  const float = o.float16 ? 'float16' : 'float32';
  const hidden = o.hidden ?? 32;
  const channels = o.channels ?? 32;
  const seed = o.seed ?? 1234;
  const predictionType = o.predictionType ?? 'epsilon';
  const plan = layoutPlan(o.layout ?? 'sd', hidden);
  const scheduler = o.scheduler ?? plan.defaultScheduler;
  const externalData = o.externalData === true ? 'model.onnx_data' : o.externalData || undefined;

  const parts = [...PARTS, ...plan.textEncoders.flatMap((te) => [te.part, te.tokenizer])];
  for (const part of parts) await mkdir(join(dir, part), { recursive: true });
  // A previous layout's extra parts would make the folder look like another family.
  for (const part of [...LAYOUT_ONLY_PARTS, ...SD3_ONLY_PARTS])
    if (!(parts as readonly string[]).includes(part)) await rm(join(dir, part), { recursive: true, force: true });
  // SDXL's second tokenizer (OpenCLIP bigG's) pads with '!'.
  const { vocabSize } = await writeClipTokenizerFiles(join(dir, 'tokenizer'), { padToken: o.padToken });
  if (plan.sdxl) await writeClipTokenizerFiles(join(dir, 'tokenizer_2'), { padToken: '!' });

  const inpaintIndex = o.inpainting ? { _class_name: plan.sdxl ? 'StableDiffusionXLInpaintPipeline' : 'StableDiffusionInpaintPipeline' } : {};
  await writeJson(join(dir, 'model_index.json'), { ...plan.modelIndex(scheduler), ...inpaintIndex });
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), plan.schedulerConfig(scheduler, predictionType));
  for (const te of plan.textEncoders) await writeJson(join(dir, te.part, 'config.json'), plan.textEncoderConfig(te, vocabSize));
  const inpaintUnet = o.inpainting ? { in_channels: 9 } : {};
  const controlUnet = o.controlnetUnet ? residualUnetConfig(channels) : {};
  await writeJson(join(dir, 'unet', 'config.json'), {
    ...unetConfig(channels, plan.crossAttentionDim),
    ...plan.unetConfigExtras,
    ...inpaintUnet,
    ...controlUnet,
  });
  await writeJson(join(dir, 'vae_decoder', 'config.json'), vaeConfig());
  await writeJson(join(dir, 'vae_encoder', 'config.json'), vaeConfig());

  for (const te of plan.textEncoders) {
    const { part, hidden: width, layers, hiddenStates, projection } = te;
    const encoder = buildTextEncoder({ vocabSize, hidden: width, float, seed, layers, hiddenStates, projection, part });
    await writeModel(join(dir, part), o.exportNames ? withTorchExportNames(encoder, textEncoderModules()) : encoder);
  }
  const unet = buildUnet({
    channels,
    hidden: plan.crossAttentionDim,
    float,
    timestep: o.timestep ?? 'int64',
    predictionType,
    seed,
    externalData,
    textTime: plan.textTime,
    timeCondDim: plan.timeCondDim,
    inpainting: o.inpainting,
    controlnetResiduals: o.controlnetUnet,
  });
  await writeModel(join(dir, 'unet'), o.exportNames ? withTorchExportNames(unet, UNET_MODULES) : unet);
  await writeModel(join(dir, 'vae_decoder'), buildVaeDecoder({ float, seed }));
  await writeModel(join(dir, 'vae_encoder'), buildVaeEncoder({ float, output: o.vaeEncoderOutput ?? 'latent_sample' }));
  await writeTinySafetyChecker(dir, o.safetyChecker, float);
}

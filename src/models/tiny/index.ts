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
import { modelIndex, schedulerConfig, SCHEDULER_CLASSES, textEncoderConfig, unetConfig, vaeConfig, type SchedulerClass } from './configs.js';
import { buildTextEncoder } from './text-encoder.js';
import { buildUnet, type PredictionType, type TimestepInput } from './unet.js';
import { buildVaeDecoder, buildVaeEncoder } from './vae.js';

export type { SchedulerClass } from './configs.js';
export type { PredictionType, TimestepInput } from './unet.js';

export interface TinyModelOptions {
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
  /** scheduler_config.json's _class_name (default SD 1.5's 'PNDMScheduler'). */
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
}

const optionsSchema = z.object({
  float16: z.boolean().optional(),
  timestep: z.enum(['int64', 'float', 'float-scalar']).optional(),
  vaeEncoderOutput: z.enum(['latent_sample', 'latent_parameters']).optional(),
  predictionType: z.enum(['epsilon', 'v_prediction']).optional(),
  scheduler: z.enum(SCHEDULER_CLASSES).optional(),
  padToken: z.enum(['<|endoftext|>', '!']).optional(),
  externalData: z.union([z.boolean(), z.enum(['model.onnx_data', 'weights.pb'])]).optional(),
  hidden: z.number().int().min(2).max(1024).optional(),
  channels: z.number().int().min(2).max(1024).refine((c) => c % 2 === 0, 'channels must be even').optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
});

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
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
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
  checkTarget(dir);

  const float = o.float16 ? 'float16' : 'float32';
  const hidden = o.hidden ?? 32;
  const channels = o.channels ?? 32;
  const seed = o.seed ?? 1234;
  const predictionType = o.predictionType ?? 'epsilon';
  const scheduler = o.scheduler ?? 'PNDMScheduler';
  const externalData = o.externalData === true ? 'model.onnx_data' : o.externalData || undefined;

  for (const part of PARTS) await mkdir(join(dir, part), { recursive: true });
  const { vocabSize } = await writeClipTokenizerFiles(join(dir, 'tokenizer'), { padToken: o.padToken });

  await writeJson(join(dir, 'model_index.json'), modelIndex(scheduler));
  await writeJson(join(dir, 'scheduler', 'scheduler_config.json'), schedulerConfig(scheduler, predictionType));
  await writeJson(join(dir, 'text_encoder', 'config.json'), textEncoderConfig(hidden, vocabSize));
  await writeJson(join(dir, 'unet', 'config.json'), unetConfig(channels, hidden));
  await writeJson(join(dir, 'vae_decoder', 'config.json'), vaeConfig());
  await writeJson(join(dir, 'vae_encoder', 'config.json'), vaeConfig());

  await writeModel(join(dir, 'text_encoder'), buildTextEncoder({ vocabSize, hidden, float, seed }));
  await writeModel(
    join(dir, 'unet'),
    buildUnet({ channels, hidden, float, timestep: o.timestep ?? 'int64', predictionType, seed, externalData }),
  );
  await writeModel(join(dir, 'vae_decoder'), buildVaeDecoder({ float, seed }));
  await writeModel(join(dir, 'vae_encoder'), buildVaeEncoder({ float, output: o.vaeEncoderOutput ?? 'latent_sample' }));
}

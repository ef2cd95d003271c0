// Messages between the parent (dispatcher) and a device worker process. Both sides validate
// what they receive: a worker is a separate program and may be a different build.
import { z } from 'zod';
import type { GenerationRequest } from '../diffusion/types.js';
import { generationRequestSchema } from '../diffusion/validate.js';

export const workerOptionsSchema = z.object({
  device: z.string(),
  modelsDir: z.string(),
  noopStepMs: z.number().int().min(0),
  /** Most pipelines kept loaded at once. */
  maxLoadedModels: z.number().int().min(1),
  /** Rough budget for loaded pipelines, from file sizes (0 = count cap only). */
  memoryBudgetMb: z.number().min(0),
});
export type WorkerOptions = z.infer<typeof workerOptionsSchema>;

/**
 * A job's generation parameters as they travel (IPC, Redis): the engine's own schema, without
 * the image bytes (those go as a file path or base64 beside it).
 */
export const jobRequestSchema = generationRequestSchema.omit({ initImage: true, controlImage: true });

/** The problems zod found, as one sentence for the user (as the engine words them). */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => i.message).join('; ');
}

export const runJobSchema = z.object({
  id: z.string(),
  kind: z.enum(['txt2img', 'img2img', 'upscale']),
  model: z.string(),
  request: jobRequestSchema,
  initImagePath: z.string().optional(),
  /** An img2img job's inpainting mask (white repaints, black keeps). */
  maskImagePath: z.string().optional(),
  /** ControlNet's control image, when request.controlnet is set. */
  controlImagePath: z.string().optional(),
  upscaleFactor: z.union([z.literal(2), z.literal(4)]).optional(),
  /** Where to write output i: `${outputDir}/${i}.png`. */
  outputDir: z.string(),
});
/** As the parent builds it (a record's request) and the worker reads it (what the schema let through). */
export type RunJob = Omit<z.infer<typeof runJobSchema>, 'request'> & { request: Omit<GenerationRequest, 'initImage' | 'controlImage'> };

export const toWorkerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('run'), job: runJobSchema }),
  z.object({ type: z.literal('cancel'), jobId: z.string() }),
  z.object({ type: z.literal('shutdown') }),
]);
export type ToWorker = z.infer<typeof toWorkerSchema>;

const previewSchema = z.object({
  width: z.number().int(),
  height: z.number().int(),
  rgb: z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'rgb must be bytes'),
});

export const fromWorkerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready'), loadedModels: z.array(z.string()) }),
  z.object({
    type: z.literal('progress'),
    jobId: z.string(),
    step: z.number().int(),
    totalSteps: z.number().int(),
    preview: previewSchema.optional(),
  }),
  z.object({
    type: z.literal('done'),
    jobId: z.string(),
    outputs: z.array(z.string()),
    seeds: z.array(z.number()),
    /** Safety-checker flags per output; older workers send none. */
    nsfw: z.array(z.boolean()).default([]),
    timings: z.object({ totalMs: z.number(), stepMs: z.number() }),
    loadedModels: z.array(z.string()),
  }),
  z.object({
    type: z.literal('failed'),
    jobId: z.string(),
    message: z.string(),
    /** The job was cancelled on request. */
    aborted: z.boolean(),
    loadedModels: z.array(z.string()),
  }),
]);
export type FromWorker = z.infer<typeof fromWorkerSchema>;

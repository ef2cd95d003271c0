// Turns a bot request into Gemini generateContent calls: one call per image (the image models
// answer with one image per call), the nearest aspect ratio and size the model takes, the
// thinking level the owner chose, and a note for everything the model has no setting for.
// Request shape per https://ai.google.dev/gemini-api/docs/image-generation and the installed
// @google/genai (models.generateContent → POST …/models/{model}:generateContent with
// generationConfig {responseModalities: ["IMAGE"], imageConfig: {aspectRatio, imageSize},
// thinkingConfig: {thinkingLevel}}; an input image goes along as an inlineData part).
import { Modality, type ContentListUnion, type GenerateContentConfig, type ThinkingLevel } from '@google/genai';
import sharp from 'sharp';
import type { GenerationRequest } from '../diffusion/types.js';
import type { GoogleImageConfig } from '../config/google.js';
import { geminiModelInfo, nearestRatio, sizeFor, type GeminiImageSize } from './gemini-models.js';
import { ProviderError } from './types.js';

export const MAX_GEMINI_IMAGES = 4;

export interface GeminiPlan {
  model: string;
  aspectRatio: string;
  imageSize: GeminiImageSize;
  /** Shared by every call of the job. */
  config: GenerateContentConfig;
  /** Calls to make (= images asked for). */
  calls: number;
  /** An edit: the input image goes along with the prompt. */
  edit: boolean;
  notes: string[];
}

/** Why Gemini cannot take this request at all, or undefined. */
export function geminiUnsupported(req: GenerationRequest): string | undefined {
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > MAX_GEMINI_IMAGES) {
    return `The cloud provider draws 1 to ${MAX_GEMINI_IMAGES} images per request, not ${req.count}.`;
  }
  if (!(req.width > 0 && req.height > 0)) return `Image size ${req.width}x${req.height} is not valid.`;
  return undefined;
}

export function planGeminiRequest(req: GenerationRequest, cfg: Pick<GoogleImageConfig, 'model' | 'thinkingLevel'>): GeminiPlan {
  const info = geminiModelInfo(cfg.model);
  const aspectRatio = nearestRatio(req.width, req.height, info.aspectRatios);
  const imageSize = sizeFor(req.width, req.height, info.imageSizes);
  const notes = [`aspect ratio ${aspectRatio} at ${imageSize} used for ${req.width}x${req.height}`];
  const config: GenerateContentConfig = {
    responseModalities: [Modality.IMAGE],
    candidateCount: 1,
    // 1K is the model's default, so it is only sent when something else is wanted.
    imageConfig: { aspectRatio, ...(imageSize === '1K' ? {} : { imageSize }) },
  };
  if (cfg.thinkingLevel && info.thinking) config.thinkingConfig = { thinkingLevel: cfg.thinkingLevel as ThinkingLevel };
  notes.push('seed: none, Gemini image models take no seed');
  if (req.negativePrompt?.trim()) notes.push('negative prompt ignored: Gemini image models have none');
  const ignored = ['steps', 'guidance scale'];
  if (req.scheduler) ignored.push('scheduler');
  if (req.strength !== undefined) ignored.push('strength');
  notes.push(`${ignored.join(', ')} ignored: Gemini sets its own`);
  return { model: info.id, aspectRatio, imageSize, config, calls: req.count, edit: Boolean(req.initImage), notes };
}

/** The prompt, and for an edit the input image as PNG, as one user turn. */
export async function geminiContents(req: GenerationRequest): Promise<ContentListUnion> {
  const parts: { text?: string; inlineData?: { mimeType: string; data: string } }[] = [{ text: req.prompt }];
  if (req.initImage) {
    let png: Buffer;
    try {
      png = await sharp(req.initImage).png().toBuffer();
    } catch (err) {
      throw new ProviderError({ kind: 'config', retryable: false, userMessage: 'The input image could not be read.', cause: err });
    }
    parts.push({ inlineData: { mimeType: 'image/png', data: png.toString('base64') } });
  }
  return [{ role: 'user', parts }];
}

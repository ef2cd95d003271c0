// The cloud provider the owner configured: Gemini's image models (GeminiImageProvider), or the
// shut-down Imagen :predict path for an explicit imagen-… model id (ImagenProvider, legacy).
import type { GoogleImageConfig } from '../config/google.js';
import { GeminiImageProvider } from './gemini.js';
import { geminiLabel } from './gemini-models.js';
import { imagenLabel } from './imagen-config.js';
import { ImagenProvider } from './imagen.js';
import type { ImageProvider } from './types.js';

/** What the queue needs of the cloud provider. */
export interface CloudProvider extends ImageProvider {
  /** Model id, recorded as the job's device while it runs (e.g. gemini-3.1-flash-image). */
  readonly model: string;
  /** False until GOOGLE_API_KEY (or Vertex AI) is set. */
  readonly configured: boolean;
  /** Takes an input image with the prompt (an edit); false sends image jobs to the local engine. */
  readonly edits: boolean;
}

export interface CloudProviderOptions {
  /** Calls in flight at once over all jobs (IMAGEN_CONCURRENCY). */
  concurrency?: number;
  random?: () => number;
}

export function createCloudProvider(config: GoogleImageConfig, options: CloudProviderOptions = {}): CloudProvider {
  if (config.api === 'imagen') return new ImagenProvider(config, options.random ? { random: options.random } : {});
  return new GeminiImageProvider(config, options);
}

/** "Gemini 3.1 Flash Image (gemini-3.1-flash-image)" for the model id a cloud job recorded. */
export function cloudModelLabel(id: string): string {
  return /^imagen-/.test(id) ? imagenLabel(id) : geminiLabel(id);
}

export { GeminiImageProvider } from './gemini.js';
/** @deprecated Google shut Imagen down; use GeminiImageProvider (createCloudProvider picks it). */
export { ImagenProvider } from './imagen.js';

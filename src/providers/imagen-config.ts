// The legacy Imagen path (:predict), kept only for an explicit imagen-… model id: Google has shut
// every Imagen model down (see src/config/google.ts). Settings come from GOOGLE_IMAGE_MODEL and
// the IMAGEN_* keys via googleImageConfigFromEnv; here is what we know about each Imagen model.
import type { GoogleImageConfig } from '../config/google.js';

/** The Imagen provider's settings: the cloud settings minus what only Gemini has. */
export type ImagenConfig = Omit<GoogleImageConfig, 'api' | 'thinkingLevel' | 'vertex'>;

export interface ImagenModelInfo {
  id: string;
  label: string;
  /** Imagen 3.0-generate-002 and later dropped negative prompts. */
  negativePrompt: boolean;
  /** Images one request may ask for. */
  maxImagesPerCall: number;
}

const KNOWN_MODELS: Record<string, Omit<ImagenModelInfo, 'id'>> = {
  'imagen-4.0-fast-generate-001': { label: 'Imagen 4 Fast', negativePrompt: false, maxImagesPerCall: 4 },
  'imagen-4.0-generate-001': { label: 'Imagen 4', negativePrompt: false, maxImagesPerCall: 4 },
  // Ultra is documented as one image per request; more are asked for one by one.
  'imagen-4.0-ultra-generate-001': { label: 'Imagen 4 Ultra', negativePrompt: false, maxImagesPerCall: 1 },
  'imagen-3.0-generate-002': { label: 'Imagen 3', negativePrompt: false, maxImagesPerCall: 4 },
  'imagen-3.0-generate-001': { label: 'Imagen 3', negativePrompt: true, maxImagesPerCall: 4 },
  'imagen-3.0-fast-generate-001': { label: 'Imagen 3 Fast', negativePrompt: true, maxImagesPerCall: 4 },
};

export function imagenModelInfo(id: string): ImagenModelInfo {
  const known = KNOWN_MODELS[id];
  if (known) return { id, ...known };
  // Unknown ids are newer models: assume Imagen 4's feature set.
  return { id, label: 'Imagen', negativePrompt: false, maxImagesPerCall: 4 };
}

export function imagenLabel(id: string): string {
  return `${imagenModelInfo(id).label} (${id})`;
}

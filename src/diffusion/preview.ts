// A cheap preview of the picture forming: a fixed linear projection of the latent channels to
// RGB, at latent resolution. No VAE call, so it costs microseconds per step.
// - 4 channels (SD 1.x/2.x, SDXL): the widely used approximation factors for SD latents.
// - 16 channels (SD 3.x): ComfyUI's published SD3 latent_rgb_factors and latent_rgb_factors_bias
//   (comfy/latent_formats.py, class SD3), applied as its Latent2RGBPreviewer does: on the
//   model's scaled latents, then (v + 1) / 2.
import type { GenerationProgress, PreviewImage } from './types.js';

const SD_FACTORS: readonly (readonly number[])[] = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

/** SD3's 16 latent channels → R, G, B (ComfyUI latent_formats.SD3). */
export const SD3_LATENT_RGB_FACTORS: readonly (readonly number[])[] = [
  [-0.0922, -0.0175, 0.0749],
  [0.0311, 0.0633, 0.0954],
  [0.1994, 0.0927, 0.0458],
  [0.0856, 0.0339, 0.0902],
  [0.0587, 0.0272, -0.0496],
  [-0.0006, 0.1104, 0.0309],
  [0.0978, 0.0306, 0.0427],
  [-0.0042, 0.1038, 0.1358],
  [-0.0194, 0.002, 0.0669],
  [-0.0488, 0.013, -0.0268],
  [0.0922, 0.0988, 0.0951],
  [-0.0278, 0.0524, -0.0542],
  [0.0332, 0.0456, 0.0895],
  [-0.0069, -0.003, -0.081],
  [-0.0596, -0.0465, -0.0293],
  [-0.1448, -0.1463, -0.1189],
];
export const SD3_LATENT_RGB_BIAS: readonly number[] = [0.2394, 0.2135, 0.1925];

/**
 * A progress event whose `preview` is computed when first read (an enumerable own getter, so
 * spreading or serialising the event still carries it). `latents` must not change afterwards:
 * schedulers return fresh arrays every step, so the caller's x̂₀ of this step stays as it was.
 */
export function progressOf(step: number, totalSteps: number, latents: Float32Array, width: number, height: number, channels = 4): GenerationProgress {
  let preview: PreviewImage | undefined;
  const event = { step, totalSteps } as GenerationProgress;
  Object.defineProperty(event, 'preview', {
    enumerable: true,
    configurable: true,
    get: () => (preview ??= latentPreview(latents, width, height, 0, channels)),
    set: (value: PreviewImage | undefined) => {
      preview = value;
    },
  });
  return event;
}

/** `latents` holds one image, shape [channels, h, w] from `offset`: 4 channels (SD) or 16 (SD3). */
export function latentPreview(latents: Float32Array, width: number, height: number, offset = 0, channels = 4): PreviewImage {
  const plane = width * height;
  const c = channels;
  const factors = c === 16 ? SD3_LATENT_RGB_FACTORS : SD_FACTORS;
  const bias = c === 16 ? SD3_LATENT_RGB_BIAS : [0, 0, 0];
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < 3; ch++) {
      let v = bias[ch];
      for (let k = 0; k < c; k++) v += latents[offset + k * plane + i] * factors[k][ch];
      const b = (v + 1) * 127.5;
      rgb[i * 3 + ch] = b <= 0 ? 0 : b >= 255 ? 255 : Math.round(b);
    }
  }
  return { width, height, rgb };
}

// A cheap preview of the picture forming: a fixed linear projection of the 4 SD latent
// channels to RGB (the widely used approximation factors for SD 1.x/2.x latents), at latent
// resolution. No VAE call, so it costs microseconds per step.
import type { GenerationProgress, PreviewImage } from './types.js';

const FACTORS = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

/**
 * A progress event whose `preview` is computed when first read (an enumerable own getter, so
 * spreading or serialising the event still carries it). `latents` must not change afterwards:
 * schedulers return fresh arrays every step, so the caller's x̂₀ of this step stays as it was.
 */
export function progressOf(step: number, totalSteps: number, latents: Float32Array, width: number, height: number): GenerationProgress {
  let preview: PreviewImage | undefined;
  const event = { step, totalSteps } as GenerationProgress;
  Object.defineProperty(event, 'preview', {
    enumerable: true,
    configurable: true,
    get: () => (preview ??= latentPreview(latents, width, height)),
    set: (value: PreviewImage | undefined) => {
      preview = value;
    },
  });
  return event;
}

/** `latents` holds one image, shape [4, h, w]. */
export function latentPreview(latents: Float32Array, width: number, height: number, offset = 0): PreviewImage {
  const plane = width * height;
  const rgb = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += latents[offset + k * plane + i] * FACTORS[k][c];
      const b = (v + 1) * 127.5;
      rgb[i * 3 + c] = b <= 0 ? 0 : b >= 255 ? 255 : Math.round(b);
    }
  }
  return { width, height, rgb };
}

// /imagine's size option: named aspect ratios scaled to the model's native area (512² for
// SD 1.x, 768² for SD 2.x), or an explicit WxH. Sides are multiples of 64, which every
// Stable Diffusion UNet export accepts.

export const SIZE_PRESETS = {
  square: [1, 1],
  portrait: [2, 3],
  landscape: [3, 2],
  wide: [16, 9],
} as const;

export type SizePreset = keyof typeof SIZE_PRESETS;
export const SIZE_STEP = 64;

export interface Size {
  width: number;
  height: number;
}

const roundToStep = (v: number) => Math.max(SIZE_STEP, Math.round(v / SIZE_STEP) * SIZE_STEP);

/** The preset's size for a model whose native images are base×base. */
export function presetSize(preset: SizePreset, base: number): Size {
  const [w, h] = SIZE_PRESETS[preset];
  const r = Math.sqrt(w / h);
  return { width: roundToStep(base * r), height: roundToStep(base / r) };
}

export function isPreset(value: string): value is SizePreset {
  return Object.hasOwn(SIZE_PRESETS, value);
}

/** "512x768" (also "512×768", "512 x 768") → numbers; anything else → undefined. */
export function parseWxH(value: string): Size | undefined {
  const m = /^\s*(\d{1,5})\s*[x×*]\s*(\d{1,5})\s*$/i.exec(value);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}

export function formatSize(s: Size): string {
  return `${s.width}x${s.height}`;
}

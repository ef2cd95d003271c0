// What we know about each Gemini image model ("Nano Banana"): its name for embeds, the aspect
// ratios and sizes it takes, and whether it takes a thinking level. Sources:
// - https://ai.google.dev/gemini-api/docs/image-generation (the image-generation guide: ratios, 1K/2K/4K)
// - https://docs.cloud.google.com/gemini-enterprise-agent-platform/reference/rest/Shared.Types/AspectRatio
//   (the AspectRatio enum: 1:4, 4:1, 1:8 and 8:1 besides the ten common ones, for Gemini 3.1 Flash Image)
// - the installed @google/genai's ImageConfig (aspectRatio, imageSize "512" | "1K" | "2K" | "4K")

/** The ten ratios every Gemini image model takes, as "w:h". */
const COMMON_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'] as const;
/** Gemini 3.1 Flash Image's extra tall and wide ratios. */
const EXTREME_RATIOS = ['1:4', '4:1', '1:8', '8:1'] as const;

export type GeminiImageSize = '512' | '1K' | '2K' | '4K';

export interface GeminiModelInfo {
  id: string;
  label: string;
  aspectRatios: readonly string[];
  /** Sizes from smallest up; the first is 1K or below. */
  imageSizes: readonly GeminiImageSize[];
  /** Takes thinkingConfig.thinkingLevel (3.x models). */
  thinking: boolean;
}

const KNOWN: Record<string, Omit<GeminiModelInfo, 'id'>> = {
  'gemini-3.1-flash-image': {
    label: 'Gemini 3.1 Flash Image',
    aspectRatios: [...COMMON_RATIOS, ...EXTREME_RATIOS],
    imageSizes: ['512', '1K', '2K', '4K'],
    thinking: true,
  },
  'gemini-3-pro-image': { label: 'Gemini 3 Pro Image', aspectRatios: COMMON_RATIOS, imageSizes: ['1K', '2K', '4K'], thinking: true },
  'gemini-2.5-flash-image': { label: 'Gemini 2.5 Flash Image', aspectRatios: COMMON_RATIOS, imageSizes: ['1K'], thinking: false },
};

export function geminiModelInfo(id: string): GeminiModelInfo {
  // Preview ids (gemini-3-pro-image-preview) behave like the released model.
  const known = KNOWN[id] ?? KNOWN[id.replace(/-preview(-\d+-\d+)?$/, '')];
  if (known) return { id, ...known };
  // An id we don't know is a newer model: assume the common ratios and sizes.
  return { id, label: 'Gemini image model', aspectRatios: COMMON_RATIOS, imageSizes: ['1K', '2K', '4K'], thinking: true };
}

export function geminiLabel(id: string): string {
  return `${geminiModelInfo(id).label} (${id})`;
}

const ratioValue = (name: string) => {
  const [w, h] = name.split(':').map(Number);
  return w / h;
};

/** Nearest ratio on a log scale, so 2:1 and 1:2 are equally far from 1:1. */
export function nearestRatio(width: number, height: number, ratios: readonly string[]): string {
  const target = Math.log(width / height);
  let best = ratios[0];
  let bestDistance = Infinity;
  for (const name of ratios) {
    const distance = Math.abs(Math.log(ratioValue(name)) - target);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** Whether `ratio` is width:height exactly (to 0.1 %). */
export function ratioIsExact(ratio: string, width: number, height: number): boolean {
  return Math.abs(ratioValue(ratio) / (width / height) - 1) < 1e-3;
}

/** Largest requested long edge each size serves: 512 only requests that small, 1K up to 1280 px, and so on (Google: "1K ≈ 1024 px on the longest edge"). */
const SERVES_UP_TO: Record<GeminiImageSize, number> = { '512': 512, '1K': 1280, '2K': 2560, '4K': Infinity };

/** The smallest size the model has that serves the requested long edge; its largest when none does. */
export function sizeFor(width: number, height: number, sizes: readonly GeminiImageSize[]): GeminiImageSize {
  const wanted = Math.max(width, height);
  for (const size of sizes) if (SERVES_UP_TO[size] >= wanted) return size;
  return sizes[sizes.length - 1];
}

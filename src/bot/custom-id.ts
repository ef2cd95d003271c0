// Button (and modal) custom_ids: `img:<action>:<jobId>:<index>`. Everything a click needs beyond this
// (the job's parameters, its images) lives in the durable job store, so buttons keep working
// after a restart. Discord caps custom_id at 100 characters.
import { z } from 'zod';

export const BUTTON_ACTIONS = {
  U: 'upscale',
  V: 'variation',
  R: 'reroll',
  X: 'cancel',
  I: 'info',
  // The tools under a single image (after U, and under their own results): edit-catalog.ts.
  S: 'vary_subtle',
  G: 'vary_strong',
  L: 'upscale_subtle',
  C: 'upscale_creative',
  O: 'zoom_out_2',
  H: 'zoom_out_1_5',
  K: 'zoom_custom',
  W: 'pan_left',
  E: 'pan_right',
  N: 'pan_up',
  D: 'pan_down',
} as const;

export type ButtonActionCode = keyof typeof BUTTON_ACTIONS;
export type ButtonAction = (typeof BUTTON_ACTIONS)[ButtonActionCode];

export interface ButtonRef {
  action: ButtonAction;
  jobId: string;
  /** 0-based image index (0 for actions about the whole job). */
  index: number;
}

const PREFIX = 'img';
export const MAX_CUSTOM_ID_LENGTH = 100;

const codeOf = Object.fromEntries(Object.entries(BUTTON_ACTIONS).map(([code, action]) => [action, code])) as Record<ButtonAction, ButtonActionCode>;

const refSchema = z.object({
  action: z.enum(Object.values(BUTTON_ACTIONS) as [ButtonAction, ...ButtonAction[]]),
  jobId: z.string().regex(/^[\w-]{1,80}$/, 'job id must be 1–80 letters, digits, _ or -'),
  index: z.number().int().min(0).max(9),
});

export function encodeCustomId(ref: ButtonRef): string {
  const r = refSchema.parse(ref);
  return `${PREFIX}:${codeOf[r.action]}:${r.jobId}:${r.index}`;
}

/** The button a custom_id names, or undefined when it is not one of ours (or is malformed). */
export function parseCustomId(customId: string): ButtonRef | undefined {
  if (customId.length > MAX_CUSTOM_ID_LENGTH) return undefined;
  const m = /^img:([A-Z]):([^:]+):(\d)$/.exec(customId);
  if (!m) return undefined;
  const action = BUTTON_ACTIONS[m[1] as ButtonActionCode] as ButtonAction | undefined;
  const parsed = refSchema.safeParse({ action, jobId: m[2], index: Number(m[3]) });
  return parsed.success ? parsed.data : undefined;
}

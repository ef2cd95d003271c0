// The editing tools under a single image (after U, and under each of their own results): what
// each button is called, how lineage names it ("Zoom Out 2× of image 3"), and which edit it asks
// the engine for. Pure data; edit-actions.ts runs them.
import type { ImageEdit, PanDirection } from '../diffusion/types.js';
import type { ButtonAction } from './custom-id.js';

export const EDIT_ACTIONS = [
  'vary_subtle',
  'vary_strong',
  'upscale_subtle',
  'upscale_creative',
  'zoom_out_2',
  'zoom_out_1_5',
  'zoom_custom',
  'pan_left',
  'pan_right',
  'pan_up',
  'pan_down',
] as const satisfies readonly ButtonAction[];

export type EditAction = (typeof EDIT_ACTIONS)[number];

export function isEditAction(action: string | undefined): action is EditAction {
  return (EDIT_ACTIONS as readonly string[]).includes(action ?? '');
}

export const PAN_OF: Partial<Record<EditAction, PanDirection>> = { pan_left: 'left', pan_right: 'right', pan_up: 'up', pan_down: 'down' };
export const ZOOM_OF: Partial<Record<EditAction, number>> = { zoom_out_2: 2, zoom_out_1_5: 1.5 };

const TITLES: Record<EditAction, string> = {
  vary_subtle: 'Vary (Subtle)',
  vary_strong: 'Vary (Strong)',
  upscale_subtle: 'Upscale (Subtle)',
  upscale_creative: 'Upscale (Creative)',
  zoom_out_2: 'Zoom Out 2×',
  zoom_out_1_5: 'Zoom Out 1.5×',
  zoom_custom: 'Custom Zoom',
  pan_left: 'Pan ⬅',
  pan_right: 'Pan ➡',
  pan_up: 'Pan ⬆',
  pan_down: 'Pan ⬇',
};

/** The tool's name for lineage: "Zoom Out 2×", a custom zoom with its factor ("Zoom Out 1.25×"). */
export function editTitle(action: EditAction, edit?: ImageEdit): string {
  if (action === 'zoom_custom' && edit?.kind === 'zoom') return `Zoom Out ${edit.factor}×`;
  return TITLES[action];
}

/** The buttons, row by row: a label, or an emoji for the pans. */
export const EDIT_ROWS: ReadonlyArray<ReadonlyArray<{ action: EditAction; label?: string; emoji?: string }>> = [
  [
    { action: 'vary_subtle', label: 'Vary (Subtle)' },
    { action: 'vary_strong', label: 'Vary (Strong)' },
    { action: 'upscale_subtle', label: 'Upscale (Subtle)' },
    { action: 'upscale_creative', label: 'Upscale (Creative)' },
  ],
  [
    { action: 'zoom_out_2', label: 'Zoom Out 2×' },
    { action: 'zoom_out_1_5', label: 'Zoom Out 1.5×' },
    { action: 'zoom_custom', label: 'Custom Zoom' },
  ],
  [
    { action: 'pan_left', emoji: '⬅️' },
    { action: 'pan_right', emoji: '➡️' },
    { action: 'pan_up', emoji: '⬆️' },
    { action: 'pan_down', emoji: '⬇️' },
  ],
];

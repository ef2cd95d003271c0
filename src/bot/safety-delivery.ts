// What happens to images the model's safety checker flagged, per the server's `safety flagged`
// setting: `block` (not posted), `blur` (posted blurred, as a spoiler) or `allow` (posted as
// they are, but only in age-restricted channels; elsewhere `blur` applies). The channel's own
// nsfw flag decides, not the spoiler. Upscales inherit the flag of the image they enlarge.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { JobRecord } from '../queue/types.js';
import type { FlaggedAction } from '../settings/schema.js';
import type { SettingsService } from '../settings/service.js';
import type { ModelCatalog } from './model-catalog.js';

/**
 * Looks at finished images before they are posted (the NSFW checker plugs in here): returns the
 * images to post and notes for the embed. `indices` says which of the job's images each posted
 * one is (default: all, in order); `spoiler` marks those to send as spoilers.
 */
export type ImageSafetyHook = (job: JobRecord, pngs: Buffer[]) => Promise<{ pngs: Buffer[]; notes: string[]; indices?: number[]; spoiler?: boolean[] }>;

export type ImageVerdict = 'show' | 'blur' | 'block';

export function verdictFor(flagged: boolean, action: FlaggedAction, channelIsNsfw: boolean): ImageVerdict {
  if (!flagged) return 'show';
  if (action === 'block') return 'block';
  return action === 'allow' && channelIsNsfw ? 'show' : 'blur';
}

/** Discord shows attachments whose name starts with this as spoilers. */
export const SPOILER_PREFIX = 'SPOILER_';

/** A blur strong enough that nothing but the colours is left, at any size. */
export async function blurImage(png: Buffer): Promise<Buffer> {
  const meta = await sharp(png).metadata();
  const side = Math.min(meta.width ?? 64, meta.height ?? 64);
  return sharp(png)
    .blur(Math.max(6, side / 10))
    .png()
    .toBuffer();
}

export interface SafetyDeps {
  settings: Pick<SettingsService, 'effective'>;
  catalog: Pick<ModelCatalog, 'lookup'>;
  /** The channel's age-restricted (nsfw) flag; false when it cannot be read. */
  channelIsNsfw(channelId: string): Promise<boolean>;
  /** Other jobs' records (an upscale's parent). */
  getJob(jobId: string): JobRecord | undefined;
}

export class SafetyDelivery {
  constructor(private readonly d: SafetyDeps) {}

  /** Safety-checker flags of the job's images; an upscale carries its source image's flag. */
  flagsOf(job: JobRecord): boolean[] {
    if (job.kind === 'upscale' && job.parent) {
      const parent = this.d.getJob(job.parent.jobId);
      return [parent?.nsfw[job.parent.imageIndex] === true];
    }
    return job.nsfw;
  }

  async verdicts(job: JobRecord, count: number): Promise<ImageVerdict[]> {
    const flags = this.flagsOf(job);
    if (!flags.some(Boolean)) return Array.from({ length: count }, () => 'show');
    const action = this.d.settings.effective(job.requester.guildId).safety.flagged.value;
    const nsfw = action === 'allow' ? await this.d.channelIsNsfw(job.requester.channelId) : false;
    return Array.from({ length: count }, (_, i) => verdictFor(flags[i] === true, action, nsfw));
  }

  /** The verdict on one image of a finished job (buttons must not reuse a blocked image). */
  async verdictOf(job: JobRecord, index: number): Promise<ImageVerdict> {
    return (await this.verdicts(job, Math.max(job.outputs.length, index + 1)))[index];
  }

  /** The presenter's hook: drops blocked images, blurs the ones to blur, says why. */
  readonly hook: ImageSafetyHook = async (job, pngs) => {
    const verdicts = await this.verdicts(job, pngs.length);
    const kept = { pngs: [] as Buffer[], indices: [] as number[], spoiler: [] as boolean[] };
    for (const [i, png] of pngs.entries()) {
      if (verdicts[i] === 'block') continue;
      kept.pngs.push(verdicts[i] === 'blur' ? await blurImage(png) : png);
      kept.indices.push(i);
      kept.spoiler.push(verdicts[i] === 'blur');
    }
    const notes: string[] = [];
    const blocked = verdicts.filter((v) => v === 'block').length;
    const blurred = verdicts.filter((v) => v === 'blur').length;
    const of = pngs.length > 1 ? ` of ${pngs.length}` : '';
    if (blocked) notes.push(`${blocked}${of} image${blocked === 1 ? ' was' : 's were'} withheld: the safety checker flagged ${blocked === 1 ? 'it' : 'them'}`);
    if (blurred) notes.push(`${blurred}${of} image${blurred === 1 ? ' is' : 's are'} blurred: the safety checker flagged ${blurred === 1 ? 'it' : 'them'}`);
    return { ...kept, notes };
  };

  /**
   * Step previews show the picture before the checker has seen it: only for models without a
   * checker, or where flagged images would be shown anyway.
   */
  async previewsAllowed(job: JobRecord): Promise<boolean> {
    if (job.kind === 'upscale') return true;
    const found = this.d.catalog.lookup(job.model);
    if (!found.ok || !existsSync(join(found.model.dir, 'safety_checker', 'model.onnx'))) return true;
    const action = this.d.settings.effective(job.requester.guildId).safety.flagged.value;
    return action === 'allow' && (await this.d.channelIsNsfw(job.requester.channelId));
  }
}

// What a cloud job (Google's Gemini image models) shows on Discord beyond a local one: which
// model drew it, what the model did with the request (nearest aspect ratio and size, no seed,
// parameters it has none of, images it withheld), an edit of an input image, and a re-run after
// a local failure. All of it follows from the stored job record (its device is the model id).
import type { JobRecord } from '../queue/types.js';
import { cloudModelLabel } from '../providers/cloud.js';
import { geminiModelInfo, nearestRatio, ratioIsExact, sizeFor } from '../providers/gemini-models.js';
import { imagenModelInfo } from '../providers/imagen-config.js';
import { IMAGEN_ASPECT_RATIOS } from '../providers/imagen-request.js';
import { UNKNOWN_SEED } from '../providers/types.js';

/** Jobs are stored with provider 'imagen' for the cloud (the name from before Google shut Imagen down). */
export function isCloudJob(job: Pick<JobRecord, 'provider'>): boolean {
  return job.provider === 'imagen';
}

const isLegacyImagen = (job: Pick<JobRecord, 'device'>) => Boolean(job.device && /^imagen-/.test(job.device));

/** "Gemini (Google)", or "Imagen (Google)" for a job the legacy Imagen path drew. */
export function cloudProviderName(job: Pick<JobRecord, 'device'>): string {
  return isLegacyImagen(job) ? 'Imagen (Google)' : 'Gemini (Google)';
}

/** "Gemini 3.1 Flash Image (gemini-3.1-flash-image)"; the job's device is the model that drew it. */
export function cloudModelText(job: Pick<JobRecord, 'device'>): string {
  return job.device ? cloudModelLabel(job.device) : 'the cloud provider';
}

/** The provider chose no seed (Gemini takes none; Imagen picked its own while its watermark was on). */
export function seedsUnknown(seeds: number[]): boolean {
  return seeds.length > 0 && seeds.every((s) => s === UNKNOWN_SEED);
}

/** What the Seeds field says for a cloud job without seeds. */
export function cloudSeedText(job: Pick<JobRecord, 'device'>): string {
  return isLegacyImagen(job) ? 'picked by Imagen' : 'none (Gemini takes no seed)';
}

/** A cloud job that runs because its local run failed: that failure, else undefined. */
export function localFailureBehind(job: Pick<JobRecord, 'provider' | 'state' | 'error'>): string | undefined {
  return isCloudJob(job) && job.state !== 'failed' ? job.error : undefined;
}

/** The status line of a cloud job that waits or runs. */
export function cloudStatusLine(job: JobRecord): string {
  const failure = localFailureBehind(job);
  const why = failure ? `⚠️ The local engine failed (${failure}), so ${cloudProviderName(job).replace(' (Google)', '')} draws this instead.\n` : '';
  const what = job.kind === 'img2img' ? 'Editing the image with' : 'Drawing with';
  if (job.state === 'running') return `${why}🎨 ${what} ${cloudModelText(job)}…`;
  return why.trimEnd();
}

/** Notes for the result embed of a cloud job. */
export function cloudNotes(job: JobRecord): string[] {
  const r = job.request;
  const notes: string[] = [];
  const name = cloudProviderName(job).replace(' (Google)', '');
  const failure = localFailureBehind(job);
  if (failure) notes.push(`the local engine failed (${failure}), so ${name} drew this instead`);
  if (job.kind === 'img2img') notes.push(`an edit of the input image by ${name} (strength does not apply)`);
  if (isLegacyImagen(job)) {
    const ratio = IMAGEN_ASPECT_RATIOS.map(([n]) => n as string);
    const nearest = nearestRatio(r.width, r.height, ratio);
    if (!ratioIsExact(nearest, r.width, r.height)) notes.push(`Imagen has no ${r.width}×${r.height}; it drew at ${nearest}`);
    if (r.negativePrompt && !imagenModelInfo(job.device!).negativePrompt) notes.push(`negative prompt ignored (${job.device} has none)`);
  } else {
    const info = geminiModelInfo(job.device ?? 'gemini-3.1-flash-image');
    const nearest = nearestRatio(r.width, r.height, info.aspectRatios);
    const size = sizeFor(r.width, r.height, info.imageSizes);
    if (!ratioIsExact(nearest, r.width, r.height)) notes.push(`Gemini takes an aspect ratio, not ${r.width}×${r.height}: it drew at ${nearest} (${size})`);
    else notes.push(`drawn at ${nearest} (${size})`);
    notes.push('no seed: Gemini image models take none');
    if (r.negativePrompt) notes.push('negative prompt ignored (Gemini has none)');
  }
  const withheld = Math.max(0, (r.count ?? 1) - job.outputs.length);
  if (job.state === 'done' && withheld > 0) notes.push(`${name} withheld ${withheld} of ${r.count} images (refused or answered with text only)`);
  return notes;
}

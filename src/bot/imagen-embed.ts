// What an Imagen job shows on Discord beyond a local one: which model drew it, what Imagen did
// with the request (nearest aspect ratio, parameters it has none of, images its filters held
// back), and a re-run after a local failure. All of it follows from the stored job record.
import type { JobRecord } from '../queue/types.js';
import { imagenLabel, imagenModelInfo } from '../providers/imagen-config.js';
import { IMAGEN_ASPECT_RATIOS, nearestAspectRatio } from '../providers/imagen-request.js';
import { UNKNOWN_SEED } from '../providers/types.js';

export function isImagenJob(job: Pick<JobRecord, 'provider'>): boolean {
  return job.provider === 'imagen';
}

/** "Imagen 4 Fast (imagen-4.0-fast-generate-001)"; the job's device is the Imagen model that drew it. */
export function imagenModelText(job: Pick<JobRecord, 'device'>): string {
  return job.device ? imagenLabel(job.device) : 'Imagen';
}

/** Imagen chose every seed itself (its watermark was on). */
export function seedsPickedByImagen(seeds: number[]): boolean {
  return seeds.length > 0 && seeds.every((s) => s === UNKNOWN_SEED);
}

/** An Imagen job that runs because its local run failed: that failure, else undefined. */
export function localFailureBehind(job: Pick<JobRecord, 'provider' | 'state' | 'error'>): string | undefined {
  return isImagenJob(job) && job.state !== 'failed' ? job.error : undefined;
}

/** The status line of an Imagen job that waits or runs. */
export function imagenStatusLine(job: JobRecord): string {
  const failure = localFailureBehind(job);
  const why = failure ? `⚠️ The local engine failed (${failure}), so Imagen draws this instead.\n` : '';
  if (job.state === 'running') return `${why}🎨 Drawing with ${imagenModelText(job)}…`;
  return why.trimEnd();
}

/** Notes for the result embed of an Imagen job. */
export function imagenNotes(job: JobRecord): string[] {
  const r = job.request;
  const notes: string[] = [];
  const failure = localFailureBehind(job);
  if (failure) notes.push(`the local engine failed (${failure}), so Imagen drew this instead`);
  const ratio = nearestAspectRatio(r.width, r.height);
  const exact = IMAGEN_ASPECT_RATIOS.some(([name, value]) => name === ratio && Math.abs(value - r.width / r.height) < 1e-3);
  if (!exact) notes.push(`Imagen has no ${r.width}×${r.height}; it drew at ${ratio}`);
  if (r.negativePrompt && job.device && !imagenModelInfo(job.device).negativePrompt) notes.push(`negative prompt ignored (${job.device} has none)`);
  const withheld = Math.max(0, (r.count ?? 1) - job.outputs.length);
  if (job.state === 'done' && withheld > 0) notes.push(`Google's filters withheld ${withheld} of ${r.count} images`);
  return notes;
}

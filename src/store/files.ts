// Where job images live on disk, and the retention sweep that deletes old outputs.
import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { logger } from '../log.js';
import type { JobStore } from './jobs.js';
import { ensurePrivateDir, ensurePrivateDirSync, writePrivateFile } from './private-files.js';
import type { JobRecord } from '../jobs/types.js';

export class FileStore {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = resolve(dataDir);
    ensurePrivateDirSync(this.root);
    ensurePrivateDirSync(join(this.root, 'outputs'));
    ensurePrivateDirSync(join(this.root, 'inputs'));
  }

  outputDir(jobId: string): string {
    return join(this.root, 'outputs', jobId);
  }

  outputPath(jobId: string, index: number): string {
    return join(this.outputDir(jobId), `${index}.png`);
  }

  /** `role` 'mask' stores an inpainting mask beside the input (`<jobId>.mask.<ext>`), 'control' a ControlNet's control image (`<jobId>-control.<ext>`). */
  async writeInput(jobId: string, bytes: Uint8Array, role: 'input' | 'mask' | 'control' = 'input'): Promise<string> {
    const suffix = role === 'mask' ? '.mask' : role === 'control' ? '-control' : '';
    const path = join(this.root, 'inputs', `${jobId}${suffix}.${imageExtension(bytes)}`);
    await writePrivateFile(path, bytes);
    return path;
  }

  /** Writes a job's images as outputs/<jobId>/<i>.png; returns their paths in order. */
  async writeOutputs(jobId: string, pngs: Uint8Array[]): Promise<string[]> {
    await ensurePrivateDir(this.outputDir(jobId));
    const paths = pngs.map((_, i) => this.outputPath(jobId, i));
    await Promise.all(pngs.map((png, i) => writePrivateFile(paths[i], png)));
    return paths;
  }

  /** A finished job's PNGs, in order ([] unless it is done and its files are still kept). */
  async jobOutputs(job: JobRecord | undefined): Promise<Buffer[]> {
    if (job?.state !== 'done' || job.outputsExpired) return [];
    return Promise.all(job.outputs.map((p) => this.read(p)));
  }

  /** A job's stored input image, if it had one and it is still kept. */
  async jobInput(job: JobRecord | undefined): Promise<Buffer | undefined> {
    if (!job?.initImagePath || !existsSync(job.initImagePath)) return undefined;
    return this.read(job.initImagePath);
  }

  /** A job's stored ControlNet control image, if it had one and it is still kept. */
  async jobControlImage(job: JobRecord | undefined): Promise<Buffer | undefined> {
    if (!job?.controlImagePath || !existsSync(job.controlImagePath)) return undefined;
    return this.read(job.controlImagePath);
  }

  read(path: string): Promise<Buffer> {
    return readFile(path);
  }

  /**
   * Deletes outputs (and inputs) of jobs finished more than `days` ago; the rows stay, marked
   * expired, so history and buttons can explain why an image is gone. 0 days keeps everything.
   */
  sweep(jobs: JobStore, days: number, now = Date.now()): number {
    if (days <= 0) return 0;
    const expired = jobs.expirable(now - days * 86_400_000);
    for (const job of expired) {
      rmSync(this.outputDir(job.id), { recursive: true, force: true });
      if (job.initImagePath) rmSync(job.initImagePath, { force: true });
      if (job.maskImagePath) rmSync(job.maskImagePath, { force: true });
      if (job.controlImagePath) rmSync(job.controlImagePath, { force: true });
      jobs.update({ ...job, outputsExpired: true });
    }
    if (expired.length > 0) logger.info({ count: expired.length, days }, 'retention sweep deleted old outputs');
    return expired.length;
  }
}

/** The file extension that matches an image's magic bytes (png when unknown). */
export function imageExtension(bytes: Uint8Array): 'png' | 'jpg' | 'webp' {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpg';
  if (bytes.length > 12 && Buffer.from(bytes.subarray(8, 12)).toString('latin1') === 'WEBP') return 'webp';
  return 'png';
}

// What every door of the HTTP API shares: one generation request (already translated from the
// door's own field names) becomes a job spec with the model's defaults, is checked against the
// key's limits (the same admission check as Discord users, narrowed by the key) and then by
// preflight() (the owner's limits and the provider policy, exactly as /imagine), and is queued.
// The result is fetched by id, so a client that disconnects loses nothing.
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { ImagineCeilings } from '../config/discord.js';
import type { GenerationRequest, SchedulerName } from '../diffusion/types.js';
import { isUserFacingError } from '../diffusion/errors.js';
import { MAX_INPAINT_PADDING, MAX_MASK_BLUR } from '../diffusion/validate.js';
import { apiRequester, isApiJob } from '../jobs/api-requester.js';
import type { JobKind, JobRecord, JobSpec } from '../jobs/types.js';
import { QueueLimitError, type JobQueue, type QueuePosition } from '../queue/types.js';
import { admissionRequestOf, checkAdmission, type AdmissionReason } from '../settings/admission.js';
import { effectiveSettings } from '../settings/effective.js';
import type { SettingsService } from '../settings/service.js';
import type { ApiKeyLimits } from '../store/api-keys.js';
import type { ModelCatalog, ModelEntry } from '../bot/model-catalog.js';
import { preflight } from '../bot/submit.js';
import type { ProviderRouter } from '../bot/provider-routing.js';
import type { BotDevice } from '../bot/context.js';
import { ApiError } from './errors.js';
import type { JobWatch } from './job-watch.js';

/** Who is asking: a key (or, with API_AUTH=off, the anonymous loopback user). */
export interface Principal {
  name: string;
  admin: boolean;
  limits: ApiKeyLimits;
}

/**
 * One generation request in the engine's terms, from any door. Absent fields take the model's
 * defaults. The inpainting fields are the engine's; the mask is stored beside initImage (only its
 * magic bytes were checked).
 */
export interface ApiGenerationInput extends Pick<GenerationRequest, 'mask' | 'maskBlur' | 'maskInvert' | 'inpaintArea' | 'inpaintPadding' | 'inpaintingFill'> {
  prompt: string;
  negativePrompt?: string;
  steps?: number;
  guidance?: number;
  width?: number;
  height?: number;
  /** Absent or −1: random. */
  seed?: number;
  count?: number;
  model?: string;
  scheduler?: SchedulerName;
  initImage?: Uint8Array;
  strength?: number;
}

export interface ApiQueue extends JobQueue {
  workers(): (BotDevice & { jobId?: string | undefined })[];
}

export interface JobsServiceDeps {
  queue: ApiQueue;
  settings: SettingsService;
  providers?: ProviderRouter;
  catalog: ModelCatalog;
  ceilings: ImagineCeilings;
  watch: JobWatch;
  log: Logger;
}

export const SEED_MAX = 2 ** 32 - 1;
const QUOTA_REASONS: AdmissionReason[] = ['queued', 'cooldown', 'jobs_per_hour', 'images_per_day'];
const DEFAULT_STRENGTH = 0.75;
const DEFAULT_INPAINT_STRENGTH = 1;

export class JobsService {
  /** Per key: the model `POST /sdapi/v1/options` chose (A1111 clients switch models that way). */
  private readonly chosenModel = new Map<string, string>();

  constructor(readonly d: JobsServiceDeps) {}

  /** The installed model by name, or the key's / the server's default; 404 lists what is installed. */
  model(principal: Principal, name?: string): ModelEntry {
    const found = this.d.catalog.lookup(name ?? this.chosenModel.get(principal.name));
    if (!found.ok) throw new ApiError(404, found.message, { code: 'model_not_found', param: 'model', models: this.modelNames() });
    return found.model;
  }

  modelNames(): string[] {
    return this.d.catalog.list().map((m) => m.name);
  }

  chooseModel(principal: Principal, name: string): void {
    this.chosenModel.set(principal.name, this.model(principal, name).name);
  }

  /** The spec a request makes, with the model's defaults filled in and the absolute bounds checked. */
  spec(principal: Principal, input: ApiGenerationInput): JobSpec {
    const model = this.model(principal, input.model);
    const c = this.d.ceilings;
    const count = input.count ?? 1;
    const seed = input.seed === undefined || input.seed === -1 ? randomInt(0, SEED_MAX - count + 2) : input.seed;
    const request: JobSpec['request'] = {
      prompt: input.prompt,
      seed,
      steps: input.steps ?? Math.min(model.defaults.steps, c.maxSteps),
      guidanceScale: input.guidance ?? Math.min(model.defaults.guidanceScale, c.maxGuidance),
      width: input.width ?? model.defaults.width,
      height: input.height ?? model.defaults.height,
      count,
    };
    if (input.negativePrompt) request.negativePrompt = input.negativePrompt;
    if (input.scheduler) request.scheduler = input.scheduler;
    const kind: JobKind = input.initImage ? 'img2img' : 'txt2img';
    if (input.mask && !input.initImage) throw new ApiError(400, 'A mask needs the image it masks: send the input image too.', { param: 'mask' });
    if (input.initImage) {
      if (!model.canImg2Img) throw new ApiError(400, `Model ${model.name} cannot do image-to-image: it has no VAE encoder.`, { param: 'model' });
      // As diffusers' inpainting pipeline (and /imagine): a masked region is drawn anew unless asked otherwise.
      request.strength = input.strength ?? (input.mask ? DEFAULT_INPAINT_STRENGTH : DEFAULT_STRENGTH);
    }
    if (input.mask) {
      if (input.maskBlur) request.maskBlur = input.maskBlur;
      if (input.maskInvert) request.maskInvert = true;
      if (input.inpaintArea === 'masked') {
        request.inpaintArea = 'masked';
        if (input.inpaintPadding !== undefined) request.inpaintPadding = input.inpaintPadding;
      }
      if (input.inpaintingFill && input.inpaintingFill !== 'original') request.inpaintingFill = input.inpaintingFill;
    }
    const bad = (param: string, message: string) => new ApiError(422, `${param} ${message}`, { param });
    if (!input.prompt.trim()) throw bad('prompt', 'must not be empty');
    if (!Number.isInteger(seed) || seed < 0 || seed > SEED_MAX) throw bad('seed', `must be -1 (random) or a whole number from 0 to ${SEED_MAX}`);
    if (count < 1 || count > c.maxCount) throw bad('count', `must be between 1 and ${c.maxCount} on this server`);
    if (request.steps < 1 || request.steps > c.maxSteps) throw bad('steps', `must be between 1 and ${c.maxSteps} on this server`);
    if (request.guidanceScale < 0 || request.guidanceScale > c.maxGuidance) throw bad('guidance', `must be between 0 and ${c.maxGuidance} on this server`);
    for (const side of ['width', 'height'] as const) {
      const v = request[side];
      if (v % 8 !== 0 || v < 64 || v > c.maxSide) throw bad(side, `must be a multiple of 8 from 64 to ${c.maxSide} on this server (got ${v})`);
    }
    if (request.strength !== undefined && (request.strength < 0 || request.strength > 1)) throw bad('strength', 'must be between 0 and 1');
    if (request.maskBlur !== undefined && (request.maskBlur < 0 || request.maskBlur > MAX_MASK_BLUR)) {
      throw bad('mask_blur', `must be between 0 and ${MAX_MASK_BLUR} pixels`);
    }
    const pad = request.inpaintPadding;
    if (pad !== undefined && (!Number.isInteger(pad) || pad < 0 || pad > MAX_INPAINT_PADDING)) {
      throw bad('inpaint_full_res_padding', `must be a whole number of pixels from 0 to ${MAX_INPAINT_PADDING}`);
    }
    return {
      kind,
      model: model.name,
      request,
      ...(input.initImage ? { initImage: input.initImage } : {}),
      ...(input.mask ? { maskImage: input.mask } : {}),
      requester: apiRequester(principal.name),
    };
  }

  /** Admission (the key's limits, then the owner's and the provider policy, as for Discord users) and the submit. */
  async submit(principal: Principal, input: ApiGenerationInput): Promise<{ job: JobRecord; position: QueuePosition }> {
    const spec = this.spec(principal, input);
    const l = principal.limits;
    const keySettings = effectiveSettings(
      {
        limits: {
          ...(l.maxSteps ? { maxSteps: l.maxSteps } : {}),
          ...(l.maxSide ? { maxSide: l.maxSide } : {}),
          ...(l.maxImages ? { maxCount: l.maxImages } : {}),
          ...(l.jobsPerHour ? { jobsPerHour: l.jobsPerHour } : {}),
          ...(l.imagesPerDay ? { imagesPerDay: l.imagesPerDay } : {}),
        },
      },
      this.d.settings.owner,
    );
    const admission = checkAdmission(admissionRequestOf(spec), keySettings, this.d.settings.usage, this.d.settings.now());
    if (!admission.ok) {
      const message = plain(admission.message).replace(/this server/g, 'this key');
      if (QUOTA_REASONS.includes(admission.reason)) {
        throw new ApiError(429, message, { code: admission.reason, retryAfterS: Math.max(1, Math.ceil((admission.retryInMs ?? 60_000) / 1000)) });
      }
      throw new ApiError(admission.reason === 'model' ? 403 : 400, message, { code: admission.reason });
    }
    const routed = preflight({ settings: this.d.settings, ...(this.d.providers ? { providers: this.d.providers } : {}) }, spec);
    if (!routed.ok) throw new ApiError(503, plain(routed.message), { code: 'unavailable' });
    try {
      const submitted = await this.d.queue.submit(routed.spec);
      this.d.watch.track(submitted.job.id);
      this.d.log.info({ jobId: submitted.job.id, key: principal.name, model: spec.model }, 'api job queued');
      return submitted;
    } catch (err) {
      if (err instanceof QueueLimitError) throw new ApiError(429, err.message, { code: err.kind, retryAfterS: 30 });
      if (isUserFacingError(err)) throw new ApiError(400, (err as Error).message);
      this.d.log.error({ err }, 'api submit failed');
      throw new ApiError(500, `The queue could not take this job: ${(err as Error).message}`);
    }
  }

  /** The job when this key may see it (its own; every API job for an admin key). */
  job(principal: Principal, id: string): JobRecord {
    const job = /^[\w-]{1,64}$/.test(id) ? this.d.queue.get(id) : undefined;
    if (!job || !isApiJob(job) || (!principal.admin && job.requester.userId !== apiRequester(principal.name).userId)) {
      throw new ApiError(404, `No job ${id} for this key.`, { code: 'job_not_found' });
    }
    return job;
  }

  /** Waits for the job to finish (done → its PNGs; failed/cancelled → an error). The job goes on if the wait times out. */
  async result(job: JobRecord, timeoutMs: number): Promise<{ job: JobRecord; images: Buffer[] }> {
    const finished = await this.d.watch.finished(job.id, timeoutMs);
    if (!finished) throw new ApiError(504, `Job ${job.id} is still running; fetch it later with GET /jobs/${job.id}.`, { code: 'timeout' });
    if (finished.state === 'failed') throw new ApiError(500, finished.error ?? 'The job failed.', { code: 'job_failed' });
    if (finished.state === 'cancelled') throw new ApiError(409, 'The job was cancelled.', { code: 'job_cancelled' });
    return { job: finished, images: await this.d.queue.outputs(job.id) };
  }

  async cancel(principal: Principal, id: string): Promise<JobRecord> {
    const job = this.job(principal, id);
    const result = await this.d.queue.cancel(job.id, { userId: job.requester.userId, isAdmin: principal.admin });
    if (result === 'already_finished') throw new ApiError(409, `Job ${id} has already finished.`, { code: 'already_finished' });
    return this.d.queue.get(job.id) ?? job;
  }

  /** This key's waiting and running jobs, earliest first. */
  activeJobs(principal: Principal): { job: JobRecord; position: QueuePosition }[] {
    const user = apiRequester(principal.name).userId;
    const out: { job: JobRecord; position: QueuePosition }[] = [];
    for (const position of this.d.queue.positions()) {
      const job = this.d.queue.get(position.jobId);
      if (job && (job.requester.userId === user || (principal.admin && isApiJob(job)))) out.push({ job, position });
    }
    return out;
  }

  position(jobId: string): QueuePosition | undefined {
    return this.d.queue.positions().find((p) => p.jobId === jobId);
  }
}

/** Discord's emoji prefixes and markdown do not belong in an HTTP error message. */
export function plain(message: string): string {
  return message
    .replace(/^[^\p{L}\p{N}"(]+/u, '')
    .replace(/\*\*/g, '')
    .replace(/`/g, '')
    .trim();
}

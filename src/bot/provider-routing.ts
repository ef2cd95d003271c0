// Applies the provider policy to real jobs: gathers what the decision needs (the guild's policy,
// the local devices and wait, today's cloud usage in images) and hands the job to the provider it names.
// submitJob routes every new job here; the queue asks again when a local job failed for good.
import type { Logger } from 'pino';
import { decideProvider, fallbackAfterFailure, utcDayStart, type ImagenUsageToday, type ProviderRoutingConfig } from '../providers/policy.js';
import type { ProviderPolicySource } from '../providers/policy-types.js';
import type { ProviderQueue } from '../queue/provider-queue.js';
import type { JobRecord, JobSpec } from '../queue/types.js';
import { IMAGEN_ONLY_MODEL, NO_MODEL_MESSAGE } from './model-catalog.js';
import { formatDuration } from '../durations.js';

/** What routing needs of the queue (ProviderQueue provides it). */
export type RoutingQueue = Pick<ProviderQueue, 'localCapacity' | 'imagesSince' | 'imagenConfigured' | 'imagenUnsupported' | 'setLocalFailureHandler'>;

export interface ProviderRouterDeps {
  queue: RoutingQueue;
  policies: ProviderPolicySource;
  config: ProviderRoutingConfig;
  log: Logger;
  now?: () => number;
}

export type RouteOutcome = { ok: true; spec: JobSpec; note?: string } | { ok: false; message: string };

const imagesOf = (job: Pick<JobSpec, 'kind' | 'request'>) => (job.kind === 'upscale' ? 1 : Math.max(1, job.request.count ?? 1));

export class ProviderRouter {
  constructor(private readonly d: ProviderRouterDeps) {
    d.queue.setLocalFailureHandler((job, error) => this.retryOnImagen(job, error));
  }

  /** The job with its provider set, or why no provider on this bot may draw it. */
  route(spec: JobSpec): RouteOutcome {
    const guildId = spec.requester.guildId;
    const policy = this.d.policies.policyFor(guildId);
    const local = this.d.queue.localCapacity(spec);
    const unsupported = this.d.queue.imagenUnsupported(spec);
    const decision = decideProvider({
      policy: policy.provider,
      imagenConfigured: this.d.queue.imagenConfigured,
      ...(unsupported === undefined ? {} : { imagenUnsupported: unsupported }),
      askedForImagen: spec.provider === 'imagen',
      localDevices: local.devices,
      localWaitMs: local.etaMs,
      fallbackWaitMs: this.d.config.fallbackWaitMs,
      images: imagesOf(spec),
      usage: this.usage(guildId),
      caps: { guild: policy.imagenDailyCap, owner: this.d.config.ownerDailyCap },
    });
    if ('refused' in decision) return { ok: false, message: decision.refused };
    const { provider: _asked, ...rest } = spec;
    // A host without model folders only has the cloud; a guild whose policy keeps jobs local cannot use it.
    if (decision.provider === 'local' && spec.model === IMAGEN_ONLY_MODEL.name && spec.kind !== 'upscale') {
      return { ok: false, message: `${NO_MODEL_MESSAGE} The cloud provider is configured, but this server's provider setting keeps jobs local.` };
    }
    if (decision.provider === 'local') return { ok: true, spec: rest, ...(decision.note ? { note: decision.note } : {}) };
    this.d.log.debug({ guildId, reason: decision.reason, localWaitMs: local.etaMs }, 'job routed to the cloud provider');
    const note =
      decision.reason === 'long_wait' ? `The local queue's wait is about ${formatDuration(local.etaMs)}, so the cloud provider draws this one.` : undefined;
    return { ok: true, spec: { ...rest, provider: 'imagen' }, ...(note ? { note } : {}) };
  }

  /** A local job failed for good: true when the guild's policy (`fallback`) and today's caps allow a re-run in the cloud. */
  retryOnImagen(job: JobRecord, error: string): boolean {
    const guildId = job.requester.guildId;
    const policy = this.d.policies.policyFor(guildId);
    const unsupported = this.d.queue.imagenUnsupported(job);
    const again = fallbackAfterFailure({
      policy: policy.provider,
      imagenConfigured: this.d.queue.imagenConfigured,
      ...(unsupported === undefined ? {} : { imagenUnsupported: unsupported }),
      images: imagesOf(job),
      usage: this.usage(guildId),
      caps: { guild: policy.imagenDailyCap, owner: this.d.config.ownerDailyCap },
    });
    if (again) this.d.log.info({ jobId: job.id, guildId, error }, 'local job failed; falling back to the cloud provider');
    return again;
  }

  private usage(guildId: string | null): ImagenUsageToday {
    const since = utcDayStart((this.d.now ?? Date.now)());
    return { guild: this.d.queue.imagesSince('imagen', since, guildId), all: this.d.queue.imagesSince('imagen', since) };
  }
}

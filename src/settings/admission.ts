// The admission check: may this job be queued here, now? One function for /imagine and every
// button, run before a job reaches the queue (local or Imagen alike). A refusal says which limit
// was hit and, for quotas and cooldowns, when the next slot opens.
import type { JobKind, JobSpec } from '../jobs/types.js';
import { formatWait } from '../durations.js';
import { findBlocked } from './blocked-words.js';
import { channelAllowed, loraAllowed, modelAllowed, type EffectiveSettings } from './effective.js';
import { requestedLoras } from '../diffusion/lora/choices.js';
import { DAY_MS, HOUR_MS, type UsageStore } from './usage.js';

export interface AdmissionRequest {
  guildId: string | null;
  userId: string;
  channelId: string;
  kind: JobKind;
  model: string;
  prompt: string;
  /** Images the job makes. */
  images: number;
  steps: number;
  width: number;
  height: number;
  /** LoRAs the job uses (its `loras` and prompt tags), by name. */
  loras?: string[];
}

export type AdmissionReason =
  | 'channel'
  | 'model'
  | 'lora'
  | 'blocked_word'
  | 'steps'
  | 'size'
  | 'count'
  | 'queued'
  | 'cooldown'
  | 'jobs_per_hour'
  | 'images_per_day';

export type Admission = { ok: true } | { ok: false; reason: AdmissionReason; message: string; retryInMs?: number };

/** The admission request of a job spec (from /imagine, a button, or any other entry point). */
export function admissionRequestOf(spec: Pick<JobSpec, 'kind' | 'model' | 'request' | 'requester'>): AdmissionRequest {
  const r = spec.request;
  return {
    guildId: spec.requester.guildId,
    userId: spec.requester.userId,
    channelId: spec.requester.channelId,
    kind: spec.kind,
    model: spec.model,
    prompt: r.prompt,
    images: spec.kind === 'upscale' ? 1 : Math.max(1, r.count ?? 1),
    steps: r.steps,
    width: r.width,
    height: r.height,
    ...(spec.kind !== 'upscale' ? { loras: loraNamesOf(r) } : {}),
  };
}

/** The LoRA names a request uses; a prompt whose tags do not parse counts none (the engine refuses it). */
function loraNamesOf(r: { prompt: string; negativePrompt?: string; loras?: { name: string; weight: number }[] }): string[] {
  try {
    return requestedLoras(r).map((l) => l.name);
  } catch {
    return [];
  }
}

const refuse = (reason: AdmissionReason, message: string, retryInMs?: number): Admission => ({
  ok: false,
  reason,
  message,
  ...(retryInMs !== undefined ? { retryInMs } : {}),
});

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function channelList(ids: string[]): string {
  return ids.map((id) => `<#${id}>`).join(', ');
}

/** Checks the job's place and content against the settings, then the user's quotas at `now`. */
export function checkAdmission(req: AdmissionRequest, s: EffectiveSettings, usage: UsageStore, now: number): Admission {
  if (!channelAllowed(s, req.channelId)) {
    const where = s.channels.allow.filter((id) => !s.channels.deny.includes(id));
    return refuse('channel', `🚫 /imagine is turned off in this channel by the server's admins${where.length ? `; use ${channelList(where)}` : ''}.`);
  }
  if (req.kind !== 'upscale' && !modelAllowed(s, req.model)) {
    const allowed = s.model.allow.filter((m) => !s.model.deny.includes(m));
    const which = allowed.length ? `allowed: ${allowed.join(', ')}` : '/models shows the ones that are';
    return refuse('model', `🚫 Model ${req.model} is not allowed on this server; ${which}.`);
  }
  const deniedLora = req.loras?.find((l) => !loraAllowed(s, l));
  if (deniedLora !== undefined) return refuse('lora', `🚫 LoRA ${deniedLora} is not allowed on this server; /models shows the ones that are.`);
  const blocked = findBlocked(req.prompt, s.safety.blockedWords);
  if (blocked !== undefined) {
    return refuse('blocked_word', `🚫 Your prompt contains "${blocked}", which this server blocks; rephrase it and try again.`);
  }
  const l = s.limits;
  if (req.kind !== 'upscale') {
    if (req.steps > l.maxSteps.value) return refuse('steps', `🚫 This server allows at most ${l.maxSteps.value} steps; this job asks for ${req.steps}.`);
    if (Math.max(req.width, req.height) > l.maxSide.value) {
      return refuse('size', `🚫 This server allows images up to ${l.maxSide.value} px a side; this job asks for ${req.width}×${req.height}.`);
    }
    if (req.images > l.maxCount.value)
      return refuse('count', `🚫 This server allows at most ${plural(l.maxCount.value, 'image')} per job; this job asks for ${req.images}.`);
  }

  // The owner's cap (MAX_QUEUED_PER_USER) is the queue's own check; a server's lower one is here.
  if (l.maxQueuedPerUser.source === 'server' && usage.waitingCount(req.guildId, req.userId) >= l.maxQueuedPerUser.value) {
    return refuse(
      'queued',
      `⏳ ${plural(l.maxQueuedPerUser.value, 'waiting job')} per user on this server: wait for one of yours to start (/queue shows them).`,
    );
  }

  const cooldown = l.cooldownSeconds.value;
  const last = cooldown > 0 ? usage.lastJobAt(req.guildId, req.userId) : undefined;
  if (last !== undefined && now - last < cooldown * 1000) {
    const wait = last + cooldown * 1000 - now;
    return refuse('cooldown', `⏳ One job every ${formatWait(cooldown * 1000)} on this server: next slot in ${formatWait(wait)}.`, wait);
  }

  const perHour = l.jobsPerHour.value;
  if (perHour !== null) {
    const jobs = usage.userJobsSince(req.guildId, req.userId, now - HOUR_MS + 1);
    if (jobs.length >= perHour) {
      // The slot opens when enough of the oldest jobs leave the window.
      const wait = jobs[jobs.length - perHour].createdAt + HOUR_MS - now;
      return refuse('jobs_per_hour', `⏳ ${plural(perHour, 'job')} per hour: next slot in ${formatWait(wait)}.`, wait);
    }
  }

  const perDay = l.imagesPerDay.value;
  if (perDay !== null) {
    if (req.images > perDay) {
      return refuse('images_per_day', `🚫 ${plural(perDay, 'image')} per day on this server, and this job asks for ${req.images}; ask for fewer.`);
    }
    const jobs = usage.userJobsSince(req.guildId, req.userId, now - DAY_MS + 1);
    let used = jobs.reduce((n, j) => n + j.images, 0);
    if (used + req.images > perDay) {
      const left = Math.max(0, perDay - used);
      let opensAt = now;
      for (const j of jobs) {
        used -= j.images;
        opensAt = j.createdAt + DAY_MS;
        if (used + req.images <= perDay) break;
      }
      const wait = opensAt - now;
      const fewer = left > 0 ? ` (or ask for ${left} now)` : '';
      return refuse('images_per_day', `⏳ ${plural(perDay, 'image')} per day: next slot in ${formatWait(wait)}${fewer}.`, wait);
    }
  }
  return { ok: true };
}

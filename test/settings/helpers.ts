// Shared fixtures for the settings tests: a temporary SQLite database with the real schema,
// owner settings like the defaults in .env.example, and jobs written through the real JobStore.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/db.js';
import { JobStore } from '../../src/store/jobs.js';
import type { JobRecord, JobState } from '../../src/queue/types.js';
import type { OwnerSettings } from '../../src/settings/owner.js';
import { jobRecord } from '../support/job-record.js';
import type { AdmissionRequest } from '../../src/settings/admission.js';

export function tempDb(): Db {
  const dir = mkdtempSync(join(tmpdir(), 'settings-test-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return openDatabase(dir);
}

export function owner(overrides: Partial<OwnerSettings['limits']> = {}, rest: Partial<Omit<OwnerSettings, 'limits'>> = {}): OwnerSettings {
  return {
    limits: {
      maxSteps: 50,
      maxSide: 1024,
      maxCount: 4,
      maxGuidance: 20,
      maxQueuedPerUser: 5,
      jobsPerHour: null,
      imagesPerDay: null,
      minCooldownSeconds: 0,
      ...overrides,
    },
    provider: { provider: 'local', imagenDailyCap: null },
    imagenConfigured: false,
    ...rest,
  };
}

export const GUILD = '100000000000000001';
export const CHANNEL = '200000000000000001';

/** An admission request for a small txt2img job in GUILD/CHANNEL by u1, with `o` applied. */
export function admissionRequest(o: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    guildId: GUILD,
    userId: 'u1',
    channelId: CHANNEL,
    kind: 'txt2img',
    model: 'tiny',
    prompt: 'a cat',
    images: 1,
    steps: 10,
    width: 64,
    height: 64,
    ...o,
  };
}

/** Writes a job as the queue would have; returns it. */
export function addJob(
  db: Db,
  o: {
    userId?: string;
    guildId?: string | null;
    createdAt: number;
    count?: number;
    state?: JobState;
    startedAt?: number;
    finishedAt?: number;
    provider?: 'local' | 'imagen';
    model?: string;
    kind?: JobRecord['kind'];
    error?: string;
  },
): JobRecord {
  const job = jobRecord({
    kind: o.kind ?? 'txt2img',
    model: o.model ?? 'tiny',
    request: { prompt: 'p', seed: 1, steps: 10, guidanceScale: 7, width: 64, height: 64, count: o.count ?? 1 },
    requester: { userId: o.userId ?? 'u1', username: o.userId ?? 'u1', guildId: o.guildId === undefined ? GUILD : o.guildId, channelId: CHANNEL },
    state: o.state ?? 'done',
    createdAt: o.createdAt,
    attempts: 1,
    // Started at submission unless said otherwise (`startedAt: undefined`: never started).
    ...('startedAt' in o ? (o.startedAt !== undefined ? { startedAt: o.startedAt } : {}) : o.state === 'queued' ? {} : { startedAt: o.createdAt }),
    ...(o.finishedAt !== undefined ? { finishedAt: o.finishedAt } : {}),
    ...(o.provider ? { provider: o.provider } : {}),
    ...(o.error ? { error: o.error } : {}),
  });
  new JobStore(db).insert(job);
  return job;
}

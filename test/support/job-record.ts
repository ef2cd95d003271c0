// JobRecords for tests that build them by hand (store rows, renderers, settings counts): one
// place that knows which fields a record needs, so a new field is added here, not in every test.
import type { JobRecord } from '../../src/jobs/types.js';

let made = 0;

/** A minimal queued txt2img record (only the required fields), with `over` applied. */
export function jobRecord(over: Partial<JobRecord> = {}): JobRecord {
  return {
    id: `job-${++made}`,
    kind: 'txt2img',
    model: 'm',
    request: { prompt: 'p', seed: 0, steps: 1, guidanceScale: 0, width: 64, height: 64, count: 1 },
    requester: { userId: 'u', username: 'n', guildId: 'g', channelId: 'c' },
    state: 'queued',
    createdAt: 5,
    attempts: 0,
    outputs: [],
    seeds: [],
    nsfw: [],
    ...over,
  };
}

/** A finished record with every optional field set (for round trips), with `over` applied. */
export function fullJobRecord(over: Partial<JobRecord> = {}): JobRecord {
  return jobRecord({
    kind: 'img2img',
    model: 'sd15',
    request: {
      prompt: 'a cat',
      negativePrompt: 'blur',
      seed: 42,
      steps: 20,
      guidanceScale: 7.5,
      width: 512,
      height: 512,
      count: 2,
      scheduler: 'euler',
      strength: 0.6,
    },
    upscaleFactor: 4,
    requester: { userId: 'u1', username: 'alice', guildId: null, channelId: 'ch' },
    interaction: { applicationId: 'app', token: 'tok', createdAt: 1700000000000 },
    parent: { jobId: 'p1', imageIndex: 1 },
    messageId: 'm1',
    state: 'done',
    initImagePath: '/x/in.png',
    createdAt: 1,
    startedAt: 2,
    finishedAt: 3,
    device: 'cuda:1',
    attempts: 2,
    error: 'none',
    outputs: ['/x/0.png', '/x/1.png'],
    seeds: [42, 43],
    nsfw: [false, true],
    timings: { totalMs: 1234.5, stepMs: 50.25 },
    ...over,
  });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { APIEmbed } from 'discord.js';
import { parseCustomId } from '../../src/bot/custom-id.js';
import { formatDuration } from '../../src/durations.js';
import { infoText, jobTitle, queuedContent, resultComponents, resultEmbed, runningContent } from '../../src/bot/render.js';
import type { JobRecord } from '../../src/queue/types.js';
import { jobRecord } from '../support/job-record.js';

function job(over: Partial<JobRecord> = {}): JobRecord {
  return jobRecord({
    id: '0f6c2b8e-5d9a-4c1e-9a61-0123456789ab',
    kind: 'txt2img',
    model: 'sd-turbo',
    request: { prompt: 'a *fox*', seed: 10, steps: 4, guidanceScale: 0, width: 512, height: 512, count: 4 },
    requester: { userId: '42', username: 'alice', guildId: 'g', channelId: 'c' },
    state: 'done',
    createdAt: 0,
    startedAt: 1000,
    finishedAt: 4500,
    attempts: 1,
    outputs: [],
    seeds: [10, 11, 12, 13],
    nsfw: [],
    ...over,
  });
}

function embedLength(e: APIEmbed): number {
  return (
    (e.title?.length ?? 0) +
    (e.description?.length ?? 0) +
    (e.footer?.text.length ?? 0) +
    (e.fields ?? []).reduce((n, f) => n + f.name.length + f.value.length, 0)
  );
}

test('the embed carries every parameter, with Markdown in the prompt escaped', () => {
  const e = resultEmbed(job(), { imageName: 'grid.png', scheduler: 'euler_a' });
  assert.equal(e.description, 'a \\*fox\\*');
  assert.deepEqual(
    e.fields?.map((f) => `${f.name}=${f.value}`),
    ['Seeds=10–13', 'Steps=4', 'Guidance=0', 'Scheduler=euler_a', 'Model=sd-turbo', 'Size=512×512', 'Time=3.5 s', 'Requested by=<@42>'],
  );
  assert.equal(e.image?.url, 'attachment://grid.png');
  assert.match(e.footer?.text ?? '', /^job 0f6c2b8e/);
  const up = resultEmbed(job({ kind: 'upscale', upscaleFactor: 2, parent: { jobId: 'p', imageIndex: 1 }, seeds: [11] }), { imageName: 'x.png' });
  assert.equal(up.title, 'Upscale ×2 of image 2');
  assert.ok(up.fields?.some((f) => f.name === 'Size' && f.value === '1024×1024'));
  assert.ok(!up.fields?.some((f) => f.name === 'Steps'));
});

test('the longest prompts stay within Discord’s embed and message limits', () => {
  const long = job({ request: { ...job().request, prompt: 'p'.repeat(1500), negativePrompt: 'n'.repeat(1000) } });
  const e = resultEmbed(long, { imageName: 'grid.png', notes: ['a note'] });
  assert.ok((e.description?.length ?? 0) <= 4096);
  assert.ok(embedLength(e) <= 6000);
  assert.ok(infoText(long).length <= 2000);
  assert.ok(queuedContent(long, { jobId: long.id, position: 3, etaMs: 90_000 }).length <= 2000);
});

test('buttons: U and V per image, then 🔄 and ℹ️; an upscale gets the editing tools and ℹ️', () => {
  const rows = resultComponents(job(), 4);
  assert.equal(rows.length, 3);
  const ids = rows.flatMap((r) => r.components.map((c) => parseCustomId((c as { custom_id: string }).custom_id)));
  assert.deepEqual(
    ids.map((r) => `${r?.action}:${r?.index}`),
    ['upscale:0', 'upscale:1', 'upscale:2', 'upscale:3', 'variation:0', 'variation:1', 'variation:2', 'variation:3', 'reroll:0', 'info:0'],
  );
  assert.equal(resultComponents(job(), 1)[0].components.length, 1);
  const upscaled = resultComponents(job({ kind: 'upscale' }), 1).flatMap((r) =>
    r.components.map((c) => parseCustomId((c as { custom_id: string }).custom_id)?.action),
  );
  assert.deepEqual(upscaled, [
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
    'info',
  ]);
  // A withheld single image keeps only ℹ️.
  assert.equal(resultComponents(job({ kind: 'upscale' }), []).flatMap((r) => r.components).length, 1);
});

test('status lines', () => {
  const j = job();
  assert.equal(
    queuedContent(j, { jobId: j.id, position: 2, etaMs: 65_000 }),
    '**a \\*fox\\*** — <@42>\n⏳ Queued: position 2 in the queue, about 1 min 5 s to wait.',
  );
  assert.equal(runningContent(j, { step: 3, totalSteps: 4 }), '**a \\*fox\\*** — <@42>\n🎨 Step 3/4 (75%)');
  assert.equal(jobTitle(job({ kind: 'img2img', parent: { jobId: 'p', imageIndex: 2 } })), 'Variation of image 3');
  assert.deepEqual(
    [formatDuration(400), formatDuration(4_240), formatDuration(12_400), formatDuration(120_000), formatDuration(3_720_000)],
    ['400 ms', '4.2 s', '12 s', '2 min', '1 h 2 min'],
  );
});

test('ℹ️ gives an /imagine line that reproduces the first image', () => {
  const text = infoText(job({ request: { ...job().request, negativePrompt: 'blur', scheduler: 'euler' } }));
  assert.match(text, /\/imagine prompt:a \*fox\* negative:blur seed:10 steps:4 guidance:0 size:512x512 model:sd-turbo scheduler:euler/);
});

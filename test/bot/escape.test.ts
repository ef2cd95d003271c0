// Every place the bot echoes user text goes through escapeUserText: the status lines, the
// result embed, ℹ️ and failure notices, for the prompt and the negative prompt alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeUserText } from '../../src/bot/escape.js';
import {
  cancelledContent,
  doneContent,
  failedContent,
  infoText,
  queuedContent,
  resultEmbed,
  runningContent,
  shortPrompt,
  withheldContent,
} from '../../src/bot/render.js';
import type { JobRecord } from '../../src/queue/types.js';

const HOSTILE =
  '# Win [a prize](https://evil.example/a) and [more](https://evil.example/b) <@123456789012345678> <@&234567890123456789> <#345678901234567890> </imagine:1> @everyone @here\n> quoted\n-# small\n- item\n1. first';

function job(over: Partial<JobRecord> = {}): JobRecord {
  return {
    id: '0f6c2b8e-5d9a-4c1e-9a61-0123456789ab',
    kind: 'txt2img',
    model: 'tiny',
    request: { prompt: HOSTILE, negativePrompt: `[neg](https://evil.example/n)\n# neg`, seed: 1, steps: 4, guidanceScale: 7, width: 64, height: 64, count: 1 },
    requester: { userId: '42', username: 'alice', guildId: 'g', channelId: 'c' },
    state: 'done',
    createdAt: 0,
    startedAt: 1000,
    finishedAt: 2000,
    attempts: 1,
    outputs: [],
    seeds: [1],
    nsfw: [],
    ...over,
  };
}

/** What Discord would turn into a link, heading, quote, list, mention or ping, from the user's text. */
function assertInert(raw: string, where: string): void {
  // The requester's and canceller's mentions are the bot's own (ids, not user text).
  const text = raw.replaceAll('<@42>', '').replaceAll('<@7>', '');
  assert.doesNotMatch(text, /(?<!\\)\[[^\]]*(?<!\\)\]\(/, `${where}: a masked link: ${text}`);
  assert.doesNotMatch(text, /(?<!\\)<(@&?|#|\/)\d*[\w:]*>/, `${where}: a mention: ${text}`);
  assert.doesNotMatch(text, /@(everyone|here)/, `${where}: a mass ping: ${text}`);
  assert.doesNotMatch(text, /https?:\/\//, `${where}: a bare link: ${text}`);
  for (const line of text.split('\n')) assert.doesNotMatch(line, /^(#{1,3} |> |-# |- |1\. )/, `${where}: line syntax: ${line}`);
  assert.doesNotMatch(text, /\n(> quoted|-# small|- item|1\. first|#+ neg)/, `${where}: the user's newline made a line`);
}

test('escapeUserText: links, headings, quotes, lists, mentions, pings and newlines come out inert', () => {
  const out = escapeUserText(HOSTILE);
  assertInert(out, 'escapeUserText');
  assert.ok(!out.includes('\n'));
  assert.equal(escapeUserText('[a](b) [c](d)'), '\\[a\\](b) \\[c\\](d)', 'every link, not only the first');
  assert.equal(escapeUserText('# big'), '\\# big');
  assert.equal(escapeUserText('-# small'), '\\-# small');
  assert.equal(escapeUserText('> quote'), '\\> quote');
  assert.equal(escapeUserText('<@123>'), '\\<@123>');
  assert.equal(escapeUserText('a *fox*'), 'a \\*fox\\*', 'the usual Markdown too');
  assert.equal(escapeUserText('@everyone'), '@\u200beveryone');
  assert.equal(escapeUserText('plain words'), 'plain words');
  assert.equal(escapeUserText('see https://evil.example/x'), 'see https:\u200b//evil.example/x', 'no bare link either');
});

test('every echo point in render.ts uses it: status lines, embed, ℹ️, failures', () => {
  const j = job();
  const pos = { position: 2, etaMs: 5000, device: 'cpu' } as Parameters<typeof queuedContent>[1];
  const texts: [string, string][] = [
    ['shortPrompt', shortPrompt(HOSTILE)],
    ['queued', queuedContent(j, pos)],
    ['running', runningContent({ ...j, state: 'running' }, { step: 1, totalSteps: 4 })],
    ['done', doneContent(j)],
    ['cancelled', cancelledContent(j, '7')],
    ['failed', failedContent({ ...j, state: 'failed' }, 'The input image could not be read.')],
    ['withheld', withheldContent(j, 'flagged')],
  ];
  const embed = resultEmbed(j, { imageName: 'x.png' });
  texts.push(['embed description', embed.description ?? '']);
  for (const f of embed.fields ?? []) texts.push([`embed field ${f.name}`, f.value]);
  // ℹ️'s reproducing /imagine line sits in a code block, where Discord renders nothing.
  texts.push(['info', infoText(j).split('```')[0]]);
  for (const [where, text] of texts) assertInert(text, where);
  assert.match(embed.description ?? '', /\\\[neg\\\]/, 'the negative prompt is escaped too');
  assert.match(infoText(j), /\*\*Negative\*\* \\\[neg\\\]/);
  // Only the requester mention the bot writes itself remains.
  assert.match(doneContent(j), /— <@42>/);
});

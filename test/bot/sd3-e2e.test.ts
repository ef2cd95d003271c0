// A tiny Stable Diffusion 3 through the real bot process and the Discord stand-in: /imagine
// with the server's default scheduler set (a diffusion one, which SD3 jobs must not take),
// V (image-to-image), U (upscale) and Zoom Out (inpainting) on the result, and the refusal of a
// diffusion scheduler.
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SlashOptions, ViewMessage } from '../support/discord/index.js';
import { tinyModel } from '../support/tiny-models.js';
import { buttonId as button, embedField as field, imageSize, isResult, refusalOf, resultOf, startHarness, type Harness } from './harness.js';

let h: Harness;

before(async () => {
  h = await startHarness();
  cpSync(await tinyModel({ layout: 'sd3' }, 'sd3'), join(h.modelsDir, 'sd3'), { recursive: true });
  await h.startBot();
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  assert.deepEqual(h.discord.errors, []);
  await h.close();
});

async function ask(command: string, options: SlashOptions): Promise<ViewMessage> {
  const run = await h.discord.slash(command, options, { user: 'mod' });
  await run.ack();
  return run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 });
}

test('SD3 through the bot: flow-match despite the server default, V, U and Zoom Out work, a diffusion scheduler is refused', async () => {
  assert.match((await ask('settings defaults', { scheduler: 'euler' })).content, /scheduler euler/);
  const run = await h.discord.slash('imagine', { prompt: 'a red house by the sea', seed: 11, steps: 3, size: '64x64', count: 2, model: 'sd3' });
  await run.ack();
  const grid = await resultOf(h.discord, run);
  assert.equal(field(grid, 'Model'), 'sd3');
  assert.equal(field(grid, 'Scheduler'), 'flow_match_euler', "the server's euler default is not applied to SD3");
  assert.equal(grid.attachments.length, 3, 'the grid and two PNGs');

  const v = await h.discord.clickButton(grid, button(grid, 'V1'));
  await v.ack();
  const variation = await h.discord.waitForMessage(
    'general',
    (m) => m.reference?.messageId === grid.id && isResult(m) && /Variation of image 1/.test(m.content),
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(field(variation, 'Scheduler'), 'flow_match_euler');

  const u = await h.discord.clickButton(grid, button(grid, 'U2'));
  await u.ack();
  const up = await h.discord.waitForMessage('general', (m) => m.reference?.messageId === grid.id && isResult(m) && m.attachments.length === 1, {
    timeoutMs: 60_000,
  });
  const size = await imageSize(up.attachments[0].bytes);
  assert.deepEqual([size.width, size.height], [128, 128]);

  // Zoom Out outpaints: SD3's inpainting path (the kept centre pasted back, the border drawn).
  const z = await h.discord.clickButton(up, button(up, 'Zoom Out 2×'));
  await z.ack();
  const zoomed = await h.discord.waitForMessage('general', (m) => m.reference?.messageId === up.id && isResult(m) && /Zoom Out 2×/.test(m.content), {
    timeoutMs: 60_000,
  });
  const zs = await imageSize(zoomed.attachments[0].bytes);
  assert.deepEqual([zs.width, zs.height], [256, 256], 'the native area (sample_size 32)');
  assert.equal(field(zoomed, 'Scheduler'), 'flow_match_euler');

  const bad = await h.discord.slash('imagine', { prompt: 'a red house', model: 'sd3', scheduler: 'euler_a' });
  await bad.ack();
  assert.match((await refusalOf(bad)).content, /\*\*scheduler\*\* sd3 is a Stable Diffusion 3 model: it samples only with flow_match_euler/);
});

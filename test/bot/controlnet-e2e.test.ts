// ControlNet through the real bot process and the Discord stand-in: /imagine's controlnet
// (autocompleted from MODELS_DIR/controlnets), control_image and control_scale, the embed and ℹ️
// records, V and 🔄 keeping the control (also after a restart: the control image is stored with
// the job), and the refusals.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import { tinyControlNetModels } from '../support/tiny-models.js';
import { buttonId as button, embedField as field, isResult, refusalOf, resultOf as resultIn, startHarness, type BotProcess, type Harness } from './harness.js';

let h: Harness;
let bot: BotProcess;
let control: Buffer;

before(async () => {
  h = await startHarness();
  const set = await tinyControlNetModels();
  cpSync(set.model, join(h.modelsDir, 'tiny-cn'), { recursive: true });
  cpSync(join(set.modelsDir, 'controlnets'), join(h.modelsDir, 'controlnets'), { recursive: true });
  bot = await h.startBot();
  const box = await sharp({ create: { width: 30, height: 30, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  control = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
    .composite([{ input: box, left: 17, top: 17 }])
    .png()
    .toBuffer();
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  await h.close();
});

const resultOf = (run: InteractionHandle) => resultIn(h.discord, run);
function replyTo(to: ViewMessage): Promise<ViewMessage> {
  return h.discord.waitForMessage('general', (m) => m.reference?.messageId === to.id && isResult(m), { timeoutMs: 60_000 });
}
async function info(m: ViewMessage): Promise<string> {
  const click = await h.discord.clickButton(m, button(m, 'ℹ️'));
  await click.ack();
  return (await click.original())?.content ?? '';
}
const pixels = (bytes: Uint8Array) => sharp(bytes).raw().toBuffer();

const ask = (extra: Record<string, unknown>) =>
  h.discord.slash('imagine', { prompt: 'a lighthouse', model: 'tiny-cn', size: '64x64', steps: 3, seed: 42, scheduler: 'euler', ...extra });

test('controlnet is autocompleted from the installed ControlNets', async () => {
  const found = await h.discord.autocomplete('imagine', { prompt: 'x', controlnet: 'can' }, 'controlnet');
  assert.deepEqual(await found.choices(), [
    { name: 'canny', value: 'canny' },
    { name: 'canny-scaled', value: 'canny-scaled' },
  ]);
  const none = await h.discord.autocomplete('imagine', { prompt: 'x', controlnet: 'zz' }, 'controlnet');
  assert.deepEqual(await none.choices(), []);
});

test('/imagine controlnet + control_image: drawn with it, shown in the embed and ℹ️; V and 🔄 keep the control, also after a restart', async () => {
  const controlFile = { filename: 'edges.png', bytes: control, contentType: 'image/png' };
  const run = await ask({ controlnet: 'canny', control_image: controlFile, control_scale: 0.8 });
  await run.ack();
  const grid = await resultOf(run);
  assert.equal(field(grid, 'ControlNet'), 'canny (canny) · weight 0.8 · guidance 0–1');
  assert.match(await info(grid), /\*\*ControlNet\*\* canny \(canny\) · weight 0\.8/);
  // The same request without the ControlNet draws another picture: the control was used.
  const plainRun = await ask({});
  await plainRun.ack();
  const plain = await resultOf(plainRun);
  assert.equal(field(plain, 'ControlNet'), undefined);
  assert.ok(!(await pixels(grid.attachments[0].bytes)).equals(await pixels(plain.attachments[0].bytes)), 'the ControlNet changed the picture');

  const v = await h.discord.clickButton(grid, button(grid, 'V1'));
  await v.ack();
  const variation = await replyTo(grid);
  assert.equal(field(variation, 'ControlNet'), 'canny (canny) · weight 0.8 · guidance 0–1');
  const again = await h.discord.clickButton(grid, button(grid, '🔄'));
  await again.ack();
  const rerolled = await h.discord.waitForMessage(
    'general',
    (m) => m.id !== variation.id && m.id !== grid.id && m.reference?.messageId === grid.id && isResult(m),
    {
      timeoutMs: 60_000,
    },
  );
  assert.equal(field(rerolled, 'ControlNet'), 'canny (canny) · weight 0.8 · guidance 0–1');

  // After a restart the stored control image is still there for V.
  await bot.stop();
  bot = await h.startBot();
  const before = new Set(h.discord.messages('general').map((m) => m.id));
  const v2 = await h.discord.clickButton(grid, button(grid, 'V1'));
  await v2.ack();
  const afterRestart = await h.discord.waitForMessage('general', (m) => !before.has(m.id) && m.reference?.messageId === grid.id && isResult(m), {
    timeoutMs: 60_000,
  });
  assert.equal(field(afterRestart, 'ControlNet'), 'canny (canny) · weight 0.8 · guidance 0–1');
  assert.match(await info(afterRestart), /\*\*ControlNet\*\* canny/);
});

test('ControlNet mistakes are refused with what is wrong, and nothing is queued', async () => {
  const png = { filename: 'edges.png', bytes: control, contentType: 'image/png' };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ controlnet: 'nope', control_image: png }, /\*\*controlnet\*\* "nope" is not installed \(installed: canny, canny-scaled\)/],
    [{ controlnet: 'canny' }, /\*\*controlnet\*\* needs a \*\*control_image\*\*/],
    [{ control_image: png }, /\*\*control_image\*\* needs a \*\*controlnet\*\*/],
    [
      { controlnet: 'canny', control_image: { filename: 'x.txt', bytes: Buffer.from('hello'), contentType: 'text/plain' } },
      /\*\*control_image\*\* must be a PNG, JPEG or WebP image/,
    ],
    [
      { controlnet: 'canny', control_image: { filename: 'fake.png', bytes: Buffer.from('not really a png'), contentType: 'image/png' } },
      /control_image is not a PNG, JPEG or WebP image/,
    ],
  ];
  for (const [options, message] of cases) {
    const run = await ask(options);
    await run.ack();
    const refusal = await refusalOf(run);
    assert.ok(refusal.ephemeral, 'refusals are ephemeral');
    assert.match(refusal.content, message);
  }
});

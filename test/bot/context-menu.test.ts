// The context-menu commands' pure parts: which image of a message, the prompt it suggests, the
// size a job from it gets, and the region presets' masks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { imageOf, promptOf, regionMask, REGIONS, sizeFor, type Region } from '../../src/bot/context-menu.js';
import { parseFormId } from '../../src/bot/context-menu-forms.js';
import { encodeRemixId, parseRemixId } from '../../src/bot/remix.js';

const att = (name: string, contentType: string | null) => ({ name, contentType, url: `https://cdn.discordapp.com/${name}`, size: 1, width: 64, height: 32 });
const message = (...list: ReturnType<typeof att>[]) => ({ attachments: new Map(list.map((a, i) => [String(i), a])) }) as never;

test('imageOf: the first image; on the bot’s grids the first single image; none without an image', () => {
  assert.equal(imageOf(message(att('notes.txt', 'text/plain'), att('cat.jpg', 'image/jpeg')))?.name, 'cat.jpg');
  assert.equal(imageOf(message(att('grid.png', 'image/png'), att('seed-1.png', 'image/png')))?.name, 'seed-1.png');
  assert.equal(imageOf(message(att('notes.txt', 'text/plain'))), undefined);
  assert.deepEqual([imageOf(message(att('a.webp', 'image/webp')))?.width, imageOf(message(att('a.webp', 'image/webp')))?.height], [64, 32]);
});

test('promptOf: a person’s text without mentions; the bot’s own bold prompt, unescaped', () => {
  assert.equal(promptOf({ content: 'hey <@123> a  red fox', author: { id: '9' } }, '1'), 'hey a red fox');
  assert.equal(promptOf({ content: '**a \\*bold\\* fox** · Variation of image 2 — <@5>', author: { id: '1' } }, '1'), 'a *bold* fox');
  assert.equal(promptOf({ content: '', author: { id: '9' } }, '1'), '');
});

test('sizeFor keeps the aspect ratio at the model’s area in multiples of 64, within the largest side', () => {
  assert.equal(sizeFor({ width: 1000, height: 1000 }, 512, 1024), '512x512');
  assert.equal(sizeFor({ width: 1920, height: 1080 }, 512, 1024), '704x384');
  assert.equal(sizeFor({ width: 4000, height: 500 }, 512, 512), '512x64');
  assert.equal(sizeFor({}, 256, 1024), '256x256');
});

test('region masks: white where they repaint', async () => {
  const whiteAt = async (region: Region) => {
    const { data } = await sharp(await regionMask(region))
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    return [...data].map((v) => (v > 127 ? 1 : 0)).join('');
  };
  assert.equal(await whiteAt('centre'), '0000011001100000');
  assert.equal(await whiteAt('all_but_centre'), '1111100110011111');
  assert.equal(await whiteAt('left_half'), '1100110011001100');
  assert.equal(await whiteAt('bottom_half'), '0000000011111111');
  assert.equal(Object.keys(REGIONS).length, 6);
});

test('form custom ids round-trip; anything else is not ours', () => {
  const ref = { action: 'variation', jobId: 'f1b2c3d4-0000-4000-8000-000000000000', index: 3 } as const;
  assert.deepEqual(parseRemixId(encodeRemixId(ref)), ref);
  assert.ok(encodeRemixId(ref).length <= 100);
  assert.equal(parseRemixId('img:V:abc:1'), undefined);
  assert.equal(parseRemixId('rmx:img:V:abc:x'), undefined);
  assert.deepEqual(parseFormId('edt:f1b2c3d4-0000-4000-8000-000000000000'), { kind: 'edit', id: 'f1b2c3d4-0000-4000-8000-000000000000' });
  assert.equal(parseFormId('edt:../../etc'), undefined);
});

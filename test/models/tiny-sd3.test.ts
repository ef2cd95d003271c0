// The tiny SD3 writer: deterministic bytes, rewrites that drop another layout's (or the T5
// variant's) parts, and options that only UNet layouts have refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTinyModel } from '../../src/models/tiny/index.js';

const work = mkdtempSync(join(tmpdir(), 'tiny-sd3-'));

function files(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(dir, join(sub, e.name)) : [join(sub, e.name)]))
    .sort();
}

test('same options, same bytes; --no-t5 and other layouts written over it leave no stale parts', async () => {
  const a = join(work, 'a');
  const b = join(work, 'b');
  await createTinyModel(a, { layout: 'sd3' });
  await createTinyModel(b, { layout: 'sd3' });
  assert.deepEqual(files(a), files(b));
  for (const f of files(a)) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f);

  await createTinyModel(b, { layout: 'sd3', t5: false });
  assert.equal(existsSync(join(b, 'text_encoder_3')), false);
  assert.equal(existsSync(join(b, 'tokenizer_3')), false);
  await createTinyModel(b, {});
  for (const part of ['transformer', 'text_encoder_2', 'tokenizer_2']) assert.equal(existsSync(join(b, part)), false, part);
  assert.ok(existsSync(join(b, 'unet', 'model.onnx')));
  await createTinyModel(b, { layout: 'sd3' });
  assert.equal(existsSync(join(b, 'unet')), false, 'an SD folder turned SD3 loses its unet');
});

test('UNet-only options and t5 outside sd3 are refused', async () => {
  await assert.rejects(createTinyModel(join(work, 'c'), { layout: 'sd3', inpainting: true }), /inpainting do not apply to the sd3 layout/);
  await assert.rejects(createTinyModel(join(work, 'd'), { t5: false }), /t5 \(--no-t5\) applies only to the sd3 layout/);
});

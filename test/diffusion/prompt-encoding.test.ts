// Prompt and negative prompt share one text-encoder call (batch of two) per encoder; the
// embeddings must be exactly, bit for bit, what one call per prompt gives.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { inspectModel } from '../../src/diffusion/model-inspect.js';
import { PromptEncoder, type PromptEmbedding, type TextEncoderPart } from '../../src/diffusion/prompt-encoding.js';
import { createSession, type LoadedSession } from '../../src/diffusion/sessions.js';
import { ClipTokenizer } from '../../src/diffusion/tokenizer.js';
import { tinyModel } from '../support/tiny-models.js';

const scratch = mkdtempSync(join(tmpdir(), 'prompt-encoding-test-'));
const sessions: LoadedSession[] = [];
after(async () => {
  for (const s of sessions) await s.session.release();
  rmSync(scratch, { recursive: true, force: true });
});

/** The model's prompt encoder, counting its calls and the batch of each. */
async function encoderOf(dir: string): Promise<{ prompts: PromptEncoder; batches: number[] }> {
  const model = inspectModel(dir);
  const parts: TextEncoderPart[] = [];
  const add = async (part: 'text_encoder' | 'text_encoder_2', tokenizerDir: string, file: string, layers?: number) => {
    const session = await createSession(file, { kind: 'cpu' }, part);
    sessions.push(session);
    parts.push({ part, tokenizer: await ClipTokenizer.fromDir(tokenizerDir), session, layers });
  };
  await add('text_encoder', model.tokenizerDir, model.files.textEncoder, model.textEncoderLayers.textEncoder);
  if (model.files.textEncoder2 && model.tokenizer2Dir) {
    await add('text_encoder_2', model.tokenizer2Dir, model.files.textEncoder2, model.textEncoderLayers.textEncoder2);
  }
  const batches: number[] = [];
  const prompts = new PromptEncoder(parts, {
    forceZerosForEmptyPrompt: false,
    run: (s, feeds, fetches) => {
      batches.push(Object.values(feeds)[0].dims[0]);
      return s.session.run(feeds, fetches);
    },
  });
  return { prompts, batches };
}

function assertSameBits(actual: PromptEmbedding, expected: PromptEmbedding, label: string): void {
  assert.deepEqual([actual.seqLen, actual.dim, actual.truncated], [expected.seqLen, expected.dim, expected.truncated], label);
  assert.deepEqual(new Uint32Array(actual.hidden.slice().buffer), new Uint32Array(expected.hidden.slice().buffer), `${label}: hidden`);
  if (expected.pooled) {
    assert.ok(actual.pooled, `${label}: pooled`);
    assert.deepEqual(new Uint32Array(actual.pooled.slice().buffer), new Uint32Array(expected.pooled.slice().buffer), `${label}: pooled`);
  }
}

const long = Array.from({ length: 90 }, (_, i) => (i % 2 ? 'cat' : 'lighthouse')).join(' ');

for (const layout of ['sd15', 'sdxl'] as const) {
  test(`${layout}: prompt + negative prompt in one call per encoder, bit for bit what one call each gives`, async () => {
    const dir = layout === 'sd15' ? await tinyModel() : await tinyModel('sdxl');
    const { prompts, batches } = await encoderOf(dir);
    const encoders = layout === 'sdxl' ? 2 : 1;
    for (const [prompt, negative] of [
      ['a photo of a cat', 'blurry'],
      [long, ''],
    ]) {
      batches.length = 0;
      const pair = await prompts.encodePair(prompt, negative, true);
      assert.deepEqual(batches, Array(encoders).fill(2), 'one batch-of-two call per encoder');
      batches.length = 0;
      const cond = await prompts.encode(prompt);
      const uncond = await prompts.encode(negative);
      assert.deepEqual(batches, Array(2 * encoders).fill(1));
      assertSameBits(pair.cond, cond, 'prompt');
      assert.ok(pair.uncond);
      assertSameBits(pair.uncond, uncond, 'negative prompt');
      if (prompt === long) assert.ok(pair.cond.truncated > 0, 'the long prompt is cut at 77 tokens');
    }
  });
}

test('a text encoder exported with batch 1 fixed gets one call per prompt', async () => {
  const dir = join(scratch, 'fixed-batch');
  cpSync(await tinyModel(), dir, { recursive: true });
  const file = join(dir, 'text_encoder', 'model.onnx');
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(readFileSync(file));
  const dims = model.graph?.input?.find((i) => i.name === 'input_ids')?.type?.tensorType?.shape?.dim;
  assert.ok(dims?.[0]);
  dims[0] = onnx.TensorShapeProto.Dimension.create({ dimValue: 1 });
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
  const { prompts, batches } = await encoderOf(dir);
  const pair = await prompts.encodePair('a photo of a cat', 'blurry', true);
  assert.deepEqual(batches, [1, 1]);
  const reference = await encoderOf(await tinyModel());
  assertSameBits(pair.cond, await reference.prompts.encode('a photo of a cat'), 'prompt');
  assert.ok(pair.uncond);
  assertSameBits(pair.uncond, await reference.prompts.encode('blurry'), 'negative prompt');
});

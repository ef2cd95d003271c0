import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createTinyModel } from '../../src/models/tiny/index.js';

function meta(s: ort.InferenceSession, which: 'inputMetadata' | 'outputMetadata') {
  return Object.fromEntries(
    s[which].map((m) => [m.name, m.isTensor ? { type: m.type, rank: m.shape.length } : { type: 'non-tensor', rank: -1 }]),
  );
}

test('writes the diffusers ONNX layout with real-export signatures', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-'));
  await createTinyModel(dir);
  for (const f of [
    'model_index.json',
    'scheduler/scheduler_config.json',
    'tokenizer/vocab.json',
    'tokenizer/merges.txt',
    'tokenizer/tokenizer_config.json',
    'tokenizer/special_tokens_map.json',
    'text_encoder/model.onnx',
    'unet/model.onnx',
    'vae_decoder/model.onnx',
    'vae_encoder/model.onnx',
    'vae_decoder/config.json',
  ]) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  const te = await ort.InferenceSession.create(join(dir, 'text_encoder/model.onnx'));
  assert.deepEqual(meta(te, 'inputMetadata'), { input_ids: { type: 'int32', rank: 2 } });
  assert.deepEqual(Object.keys(meta(te, 'outputMetadata')), ['last_hidden_state', 'pooler_output']);
  const unet = await ort.InferenceSession.create(join(dir, 'unet/model.onnx'));
  assert.deepEqual(meta(unet, 'inputMetadata'), {
    sample: { type: 'float32', rank: 4 },
    timestep: { type: 'int64', rank: 1 },
    encoder_hidden_states: { type: 'float32', rank: 3 },
  });
  assert.deepEqual(Object.keys(meta(unet, 'outputMetadata')), ['out_sample']);

  // The UNet really uses all three inputs.
  const run = async (t: bigint, textScale: number) => {
    const hidden = new Float32Array(2 * 77 * 32).map((_, i) => Math.sin(i) * textScale);
    const out = await unet.run({
      sample: new ort.Tensor('float32', new Float32Array(2 * 4 * 8 * 8).map((_, i) => Math.cos(i)), [2, 4, 8, 8]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(t, t), [2]),
      encoder_hidden_states: new ort.Tensor('float32', hidden, [2, 77, 32]),
    });
    return out.out_sample.data as Float32Array;
  };
  const a = await run(500n, 1);
  const b = await run(10n, 1);
  const c = await run(500n, -1);
  assert.ok(a.every(Number.isFinite));
  assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-3), 'timestep matters');
  assert.ok(a.some((v, i) => Math.abs(v - c[i]) > 1e-3), 'text matters');
  const dec = await ort.InferenceSession.create(join(dir, 'vae_decoder/model.onnx'));
  const img = await dec.run({ latent_sample: new ort.Tensor('float32', new Float32Array(4 * 4 * 4), [1, 4, 4, 4]) });
  assert.deepEqual(img.sample.dims, [1, 3, 32, 32]);
});

test('variants: float16 I/O, float and rank-0 timesteps, latent_parameters, external data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-'));
  await createTinyModel(dir, { float16: true, timestep: 'float-scalar', vaeEncoderOutput: 'latent_parameters', externalData: true });
  const unet = await ort.InferenceSession.create(join(dir, 'unet/model.onnx'));
  assert.deepEqual(meta(unet, 'inputMetadata').timestep, { type: 'float16', rank: 0 });
  assert.deepEqual(meta(unet, 'inputMetadata').sample, { type: 'float16', rank: 4 });
  assert.ok(existsSync(join(dir, 'unet/model.onnx_data')), 'weights live beside the graph');
  const enc = await ort.InferenceSession.create(join(dir, 'vae_encoder/model.onnx'));
  assert.deepEqual(Object.keys(meta(enc, 'outputMetadata')), ['latent_parameters']);
  const dir2 = mkdtempSync(join(tmpdir(), 'tiny-'));
  await createTinyModel(dir2, { timestep: 'float' });
  const unet2 = await ort.InferenceSession.create(join(dir2, 'unet/model.onnx'));
  assert.deepEqual(meta(unet2, 'inputMetadata').timestep, { type: 'float32', rank: 1 });
});

test('the same options give byte-identical files; a foreign non-empty folder is refused', async () => {
  const a = mkdtempSync(join(tmpdir(), 'tiny-'));
  const b = mkdtempSync(join(tmpdir(), 'tiny-'));
  await createTinyModel(a);
  await createTinyModel(b);
  for (const f of ['unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx']) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f);
  }
  const other = mkdtempSync(join(tmpdir(), 'tiny-'));
  writeFileSync(join(other, 'notes.txt'), 'mine');
  await assert.rejects(createTinyModel(other), /not empty/);
  assert.deepEqual(readdirSync(other), ['notes.txt']);
});

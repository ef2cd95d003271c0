// SD3 end to end through the command line: `npm run models -- create-tiny DIR --layout sd3
// --no-t5` writes the layout (real I/O names and shapes), `npm run imagine` draws with it, with
// and without T5, and refuses a diffusion scheduler in one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { readTextChunks } from '../../src/diffusion/png.js';
import { tinyModel } from '../support/tiny-models.js';
import { isolated, entryArgs } from '../support/child-process.js';

function cli(script: string, args: string[]) {
  return spawnSync(process.execPath, entryArgs(script, ...args), { encoding: 'utf8', ...isolated({ LOG_LEVEL: 'warn' }), timeout: 60_000 });
}

const work = mkdtempSync(join(tmpdir(), 'sd3-cli-'));

test('create-tiny --layout sd3 --no-t5: the SD3 layout with optimum’s names and shapes, no text_encoder_3', async () => {
  const dir = join(work, 'sd3-small');
  const r = cli('src/cli/models.ts', ['create-tiny', dir, '--layout', 'sd3', '--no-t5']);
  assert.equal(r.status, 0, r.stderr);
  for (const f of [
    'transformer/model.onnx',
    'text_encoder/model.onnx',
    'text_encoder_2/model.onnx',
    'vae_decoder/model.onnx',
    'vae_encoder/model.onnx',
    'tokenizer_2/vocab.json',
  ]) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  assert.equal(existsSync(join(dir, 'text_encoder_3')), false);
  const index = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8'));
  assert.equal(index._class_name, 'StableDiffusion3Pipeline');
  assert.deepEqual(index.text_encoder_3, [null, null]);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'scheduler/scheduler_config.json'), 'utf8')).shift, 3);
  const vae = JSON.parse(readFileSync(join(dir, 'vae_decoder/config.json'), 'utf8'));
  assert.deepEqual([vae.latent_channels, vae.scaling_factor, vae.shift_factor], [16, 1.5305, 0.0609]);

  const transformer = await ort.InferenceSession.create(join(dir, 'transformer/model.onnx'));
  assert.deepEqual(transformer.inputNames, ['hidden_states', 'timestep', 'encoder_hidden_states', 'pooled_projections']);
  assert.deepEqual(transformer.outputNames, ['out_hidden_states']);
  const clipG = await ort.InferenceSession.create(join(dir, 'text_encoder_2/model.onnx'));
  assert.deepEqual(clipG.outputNames, ['text_embeds', 'last_hidden_state', 'hidden_states.0', 'hidden_states.1', 'hidden_states.2']);
  await transformer.release();
  await clipG.release();

  const t5 = await ort.InferenceSession.create(join(await tinyModel({ layout: 'sd3' }, 'sd3'), 'text_encoder_3/model.onnx'));
  assert.deepEqual([t5.inputNames, t5.outputNames], [['input_ids'], ['last_hidden_state']]);
  await t5.release();
});

test('npm run imagine on a tiny SD3, with and without T5; a diffusion scheduler is one clear line', async () => {
  for (const model of [await tinyModel({ layout: 'sd3' }, 'sd3'), await tinyModel({ layout: 'sd3', t5: false }, 'sd3-no-t5')]) {
    const out = join(mkdtempSync(join(work, 'out-')), 'house.png');
    const r = cli('src/cli/imagine.ts', ['a red house', '--model', model, '--steps', '3', '--seed', '7', '--size', '64x96', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /scheduler flow_match_euler/);
    const png = readFileSync(out);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [64, 96]);
    assert.match(readTextChunks(png).parameters, /Steps: 3, .*Seed: 7, Size: 64x96/);
  }
  const refused = cli('src/cli/imagine.ts', [
    'a cat',
    '--model',
    await tinyModel({ layout: 'sd3', t5: false }, 'sd3-no-t5'),
    '--scheduler',
    'euler',
    '--out',
    join(work, 'x.png'),
  ]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /Stable Diffusion 3 model \(flow matching\): it samples only with flow_match_euler, not euler/);
  assert.doesNotMatch(refused.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(existsSync(join(work, 'x.png')), false);
});

test('pull takes an SD3 export (transformer/model.onnx) and still refuses a PyTorch SD3 repo', async () => {
  const { assertOnnxPipeline } = await import('../../src/models/hub-listing.js');
  const files = (paths: string[]) => ({ files: paths.map((path) => ({ path })) });
  assertOnnxPipeline('o/sd3-onnx', files(['model_index.json', 'transformer/model.onnx', 'transformer/model.onnx_data', 'text_encoder/model.onnx']));
  assertOnnxPipeline('TensorStack/stable-diffusion-3.5-medium-onnx', files(['model_index.json', 'unet/model.onnx', 'unet/model.onnx.data']));
  assert.throws(
    () => assertOnnxPipeline('stabilityai/stable-diffusion-3.5-medium', files(['model_index.json', 'transformer/diffusion_pytorch_model.safetensors'])),
    /PyTorch/,
  );
  // Stability's SD3 *_amdgpu repos: one diffusers folder per I/O precision, below the top.
  assert.throws(
    () =>
      assertOnnxPipeline(
        'stabilityai/stable-diffusion-3.5-medium_amdgpu',
        files(['stable-diffusion-3.5-medium_io16/transformer/model.onnx', 'stable-diffusion-3.5-medium_io16/text_encoder_3/model.onnx']),
      ),
    /--include 'stable-diffusion-3\.5-medium_io16\/\*'/,
  );
});

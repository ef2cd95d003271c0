import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectModel } from '../../src/diffusion/model.js';
import { StableDiffusionPipeline } from '../../src/diffusion/pipeline.js';
import { ModelError } from '../../src/diffusion/errors.js';
import { tinyModel } from '../support/tiny-models.js';

async function brokenCopy(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'broken-')), 'model');
  cpSync(await tinyModel(), dir, { recursive: true });
  return dir;
}

test('inspects a good folder: scaling factor, scheduler and defaults from its configs', async () => {
  const info = inspectModel(await tinyModel());
  assert.equal(info.vaeScalingFactor, 0.18215);
  assert.equal(info.defaults.scheduler, 'pndm');
  assert.equal(info.defaults.width, 256);
  assert.equal(info.family, 'sd1');
});

test('a missing part names the file and the fix', async () => {
  const dir = await brokenCopy();
  rmSync(join(dir, 'unet'), { recursive: true });
  assert.throws(() => inspectModel(dir), (e: Error) => e instanceof ModelError && /no unet\/model\.onnx/.test(e.message) && /optimum-cli/.test(e.message));
});

test('malformed JSON is reported with its path', async () => {
  const dir = await brokenCopy();
  writeFileSync(join(dir, 'scheduler/scheduler_config.json'), '{ not json');
  assert.throws(() => inspectModel(dir), (e: Error) => e instanceof ModelError && /scheduler_config\.json/.test(e.message));
});

test('a graph whose inputs do not match is refused at load time', async () => {
  const dir = await brokenCopy();
  copyFileSync(join(dir, 'vae_decoder/model.onnx'), join(dir, 'unet/model.onnx'));
  await assert.rejects(StableDiffusionPipeline.load(dir), (e: Error) => e instanceof ModelError && /unet graph has inputs \[latent_sample\]/.test(e.message));
});

test('a corrupt graph file gives a ModelError, not an ORT stack', async () => {
  const dir = await brokenCopy();
  writeFileSync(join(dir, 'text_encoder/model.onnx'), 'garbage');
  await assert.rejects(StableDiffusionPipeline.load(dir), (e: Error) => e instanceof ModelError && /Cannot load text_encoder/.test(e.message));
});

test('an SDXL folder is named as such', async () => {
  const dir = await brokenCopy();
  writeFileSync(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'ORTStableDiffusionXLPipeline', text_encoder_2: ['x', 'y'] }));
  assert.throws(() => inspectModel(dir), /SDXL/);
});

test('unknown devices are refused; cuda without the provider falls back to CPU', async () => {
  await assert.rejects(StableDiffusionPipeline.load(await tinyModel(), { device: 'tpu:0' }), /Unknown device/);
  const pipe = await StableDiffusionPipeline.load(await tinyModel(), { device: 'cuda:1' });
  // This machine has no CUDA provider installed (npm ci skips it), so the sessions run on CPU.
  assert.equal(pipe.device, 'cpu');
  await pipe.dispose();
});

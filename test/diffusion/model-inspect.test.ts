import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAMILY_DEFAULTS, inspectModel } from '../../src/diffusion/model-inspect.js';
import { detectFamily } from '../../src/diffusion/families.js';
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
  assert.throws(
    () => inspectModel(dir),
    (e: Error) => e instanceof ModelError && /no unet\/model\.onnx/.test(e.message) && /optimum-cli/.test(e.message),
  );
});

test('malformed JSON is reported with its path', async () => {
  const dir = await brokenCopy();
  writeFileSync(join(dir, 'scheduler/scheduler_config.json'), '{ not json');
  assert.throws(
    () => inspectModel(dir),
    (e: Error) => e instanceof ModelError && /scheduler_config\.json/.test(e.message),
  );
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

test('an SDXL index without its second text encoder names the missing file', async () => {
  const dir = await brokenCopy();
  writeFileSync(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'ORTStableDiffusionXLPipeline', text_encoder_2: ['x', 'y'] }));
  assert.throws(
    () => inspectModel(dir),
    (e: Error) => e instanceof ModelError && /no text_encoder_2\/model\.onnx/.test(e.message),
  );
});

test('unknown devices are refused; cuda without the provider falls back to CPU', async () => {
  await assert.rejects(StableDiffusionPipeline.load(await tinyModel(), { device: 'tpu:0' }), /Unknown device/);
  const pipe = await StableDiffusionPipeline.load(await tinyModel(), { device: 'cuda:1' });
  // This machine has no CUDA provider installed (npm ci skips it), so the sessions run on CPU.
  assert.equal(pipe.device, 'cpu');
  await pipe.dispose();
});

// ---- families and their defaults -----------------------------------------------------------

const variants = mkdtempSync(join(tmpdir(), 'family-'));
after(() => rmSync(variants, { recursive: true, force: true }));

/** A copy of a tiny model in a folder called `name`, with JSON files edited. */
async function variant(source: Promise<string>, name: string, edits: Record<string, (json: Record<string, unknown>) => void> = {}): Promise<string> {
  const dir = join(mkdtempSync(join(variants, 'v-')), name);
  cpSync(await source, dir, { recursive: true });
  for (const [file, edit] of Object.entries(edits)) {
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
    edit(json);
    writeFileSync(join(dir, file), JSON.stringify(json));
  }
  return dir;
}
const noSampleSize = { 'unet/config.json': (j: Record<string, unknown>) => delete j.sample_size };

test('the family table: sizes, steps, guidance and schedulers from the model cards', () => {
  assert.deepEqual(Object.fromEntries(Object.entries(FAMILY_DEFAULTS).map(([f, d]) => [f, [d.size, d.steps, d.guidanceScale, d.scheduler]])), {
    sd1: [512, 30, 7.5, 'model'],
    sd2: [512, 30, 7.5, 'euler'],
    'sd2-v': [768, 30, 7.5, 'dpmpp_2m'],
    'sd-turbo': [512, 1, 0, 'euler_a'],
    sdxl: [1024, 30, 5, 'model'],
    'sdxl-turbo': [512, 1, 0, 'euler_a'],
    lcm: [512, 4, 8, 'lcm'],
    'sdxl-lcm': [1024, 4, 8, 'lcm'],
    sd3: [1024, 28, 7, 'flow_match_euler'],
    'sd3.5-medium': [1024, 40, 4.5, 'flow_match_euler'],
    'sd3.5-large': [1024, 28, 3.5, 'flow_match_euler'],
    'sd3.5-large-turbo': [1024, 4, 0, 'flow_match_euler'],
  });
});

test('detectFamily reads the signals in order: SDXL, turbo, LCM, v-prediction, SD 2 width', () => {
  const base = { names: ['model'], twoTextEncoders: false, vPrediction: false };
  assert.equal(detectFamily(base), 'sd1');
  assert.equal(detectFamily({ ...base, crossAttentionDim: 768 }), 'sd1');
  assert.equal(detectFamily({ ...base, crossAttentionDim: 1024 }), 'sd2');
  assert.equal(detectFamily({ ...base, crossAttentionDim: 1024, vPrediction: true }), 'sd2-v');
  assert.equal(detectFamily({ ...base, names: ['sd-turbo'], vPrediction: true }), 'sd-turbo');
  assert.equal(detectFamily({ ...base, timeCondProjDim: 256 }), 'lcm');
  assert.equal(detectFamily({ ...base, schedulerClass: 'LCMScheduler' }), 'lcm');
  assert.equal(detectFamily({ ...base, twoTextEncoders: true }), 'sdxl');
  assert.equal(detectFamily({ ...base, twoTextEncoders: true, names: ['x', 'stabilityai/SDXL-Turbo'] }), 'sdxl-turbo');
  assert.equal(detectFamily({ ...base, twoTextEncoders: true, timeCondProjDim: 256 }), 'sdxl-lcm');
});

test('SDXL layout: both encoders and tokenizers, force_zeros_for_empty_prompt, 1024 without sample_size', async () => {
  const info = inspectModel(await tinyModel('sdxl'));
  assert.equal(info.family, 'sdxl');
  assert.match(info.files.textEncoder2 ?? '', /text_encoder_2\/model\.onnx$/);
  assert.match(info.tokenizer2Dir ?? '', /tokenizer_2$/);
  assert.deepEqual(info.textEncoderLayers, { textEncoder: 2, textEncoder2: 2 });
  assert.equal(info.forceZerosForEmptyPrompt, true);
  assert.equal(info.timeCondProjDim, undefined);
  // The tiny UNet says sample_size 32: its own size wins over the card's.
  assert.deepEqual(info.defaults, { width: 256, height: 256, steps: 30, guidanceScale: 5, scheduler: 'euler' });
  const card = inspectModel(await variant(tinyModel('sdxl'), 'xl', noSampleSize));
  assert.equal(card.defaults.width, 1024);
  const keep = inspectModel(await variant(tinyModel('sdxl'), 'xl', { 'model_index.json': (j) => (j.force_zeros_for_empty_prompt = false) }));
  assert.equal(keep.forceZerosForEmptyPrompt, false);
  assert.equal(inspectModel(await tinyModel()).forceZerosForEmptyPrompt, false, 'SD 1.x has no such rule');
});

test('an SDXL refiner (text_encoder_2 only) is refused with the reason', async () => {
  const dir = await variant(tinyModel('sdxl'), 'refiner', { 'model_index.json': (j) => (j.text_encoder = [null, null]) });
  assert.throws(
    () => inspectModel(dir),
    (e: Error) => e instanceof ModelError && /refiner/.test(e.message) && /SDXL base/.test(e.message),
  );
});

test('LCM layouts: timestep_cond width, 4 steps, guidance 8, the LCM scheduler', async () => {
  const lcm = inspectModel(await tinyModel('lcm'));
  assert.equal(lcm.family, 'lcm');
  assert.equal(lcm.timeCondProjDim, 16);
  assert.deepEqual(lcm.defaults, { width: 256, height: 256, steps: 4, guidanceScale: 8, scheduler: 'lcm' });
  const xl = inspectModel(await tinyModel('sdxl-lcm'));
  assert.equal(xl.family, 'sdxl-lcm');
  assert.equal(xl.defaults.scheduler, 'lcm');
  assert.equal(inspectModel(await variant(tinyModel('sdxl-lcm'), 'xl-lcm', noSampleSize)).defaults.width, 1024);
  // An LCM-LoRA merge: LCM scheduler, no timestep_cond, so guidance is real CFG and its card turns it off.
  const lora = inspectModel(await tinyModel({ scheduler: 'LCMScheduler' }, 'lcm-lora'));
  assert.equal(lora.family, 'lcm');
  assert.deepEqual([lora.defaults.steps, lora.defaults.guidanceScale, lora.defaults.scheduler], [4, 1, 'lcm']);
});

test('turbo models: 1 step, no guidance, Euler a, trailing spacing, the card size', async () => {
  for (const [source, name, family] of [
    [tinyModel(), 'sd-turbo', 'sd-turbo'],
    [tinyModel('sdxl'), 'sdxl-turbo', 'sdxl-turbo'],
  ] as const) {
    const info = inspectModel(await variant(source, name));
    assert.equal(info.family, family);
    assert.deepEqual(info.defaults, { width: 512, height: 512, steps: 1, guidanceScale: 0, scheduler: 'euler_a' });
    assert.equal(info.schedulerConfig.timestep_spacing, 'trailing', 'leading spacing would start a 1-step run at t=1');
  }
  assert.equal(inspectModel(await tinyModel()).schedulerConfig.timestep_spacing, 'leading', 'other families keep their config');
});

test('SD 2.x: v-prediction is the 768-v family (DPM-Solver++), 1024-wide text is SD 2 base (Euler)', async () => {
  const v = inspectModel(await variant(tinyModel({ predictionType: 'v_prediction' }, 'v'), 'sd21', noSampleSize));
  assert.equal(v.family, 'sd2-v');
  assert.deepEqual(v.defaults, { width: 768, height: 768, steps: 30, guidanceScale: 7.5, scheduler: 'dpmpp_2m' });
  assert.equal(v.schedulerConfig.prediction_type, 'v_prediction');
  const base = inspectModel(await variant(tinyModel(), 'sd2-base', { 'unet/config.json': (j) => (j.cross_attention_dim = 1024) }));
  assert.equal(base.family, 'sd2');
  assert.deepEqual([base.defaults.width, base.defaults.scheduler], [256, 'euler']);
});

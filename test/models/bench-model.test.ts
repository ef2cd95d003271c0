// The benchmark models: full-size graphs have exactly the published models' parameter counts
// (laid out without writing a byte), and reduced ones are written in optimum's layout with
// streamed external data, load in ONNX Runtime with the real signatures and run through the
// pipeline.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { ARCHITECTURES, BENCH_ARCHS, createBenchModel, type BenchArch } from '../../src/models/bench/index.js';
import { buildBenchUnet } from '../../src/models/bench/unet.js';
import { buildBenchVaeDecoder, buildBenchVaeEncoder } from '../../src/models/bench/vae.js';
import { reducedArchitecture } from '../../src/models/bench/architectures.js';
import { buildTextEncoder } from '../../src/models/tiny/text-encoder.js';
import { loadPipeline } from '../../src/diffusion/pipeline.js';

const root = mkdtempSync(join(tmpdir(), 'bench-model-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

const discard = { location: 'model.onnx_data', sink: 'discard' as const };

// The parameter counts of the real checkpoints (diffusers' / transformers' num_parameters()).
const PUBLISHED: Record<BenchArch, { unet: number; text: number[] }> = {
  sd15: { unet: 859_520_964, text: [123_060_480] },
  'sd-turbo': { unet: 865_910_724, text: [340_387_840] },
  sdxl: { unet: 2_567_463_684, text: [123_060_480, 694_659_840] },
};
// AutoencoderKL (SD and SDXL): 83,653,863 in all, quant_conv in the encoder, post_quant_conv in the decoder.
const VAE = { decoder: 49_490_199, encoder: 34_163_664 };

for (const arch of BENCH_ARCHS) {
  test(`${arch}: the full-size graphs have the published parameter counts`, () => {
    const a = ARCHITECTURES[arch];
    const unet = buildBenchUnet({ arch: a.unet, float: 'float32', seed: 1, externalData: discard });
    assert.equal(unet.parameters, PUBLISHED[arch].unet);
    // Every weight is in the side file: 4 bytes each, plus page alignment.
    assert.ok(unet.model.length < 2_000_000, `model.onnx holds the graph only (${unet.model.length} bytes)`);
    const texts = a.textEncoders.map(
      (te) =>
        buildTextEncoder({
          vocabSize: a.vocabSize,
          hidden: te.hidden,
          float: 'float32',
          seed: 1,
          layers: te.layers,
          heads: te.heads,
          intermediate: te.intermediate,
          activation: te.activation,
          hiddenStates: te.hiddenStates,
          projection: te.projection,
          part: te.part,
          externalData: discard,
          streamed: true,
        }).parameters,
    );
    assert.deepEqual(texts, PUBLISHED[arch].text);
    assert.equal(buildBenchVaeDecoder({ arch: a.vae, float: 'float32', seed: 1, externalData: discard }).parameters, VAE.decoder);
    assert.equal(buildBenchVaeEncoder({ arch: a.vae, float: 'float32', seed: 1, externalData: discard }).parameters, VAE.encoder);
  });
}

test('streamed weights are the same bytes as weights collected in memory', () => {
  const a = reducedArchitecture('sd15', 16, 1000);
  const chunks: Buffer[] = [];
  const streamed = buildBenchUnet({
    arch: a.unet,
    float: 'float16',
    seed: 7,
    externalData: { location: 'model.onnx_data', align: 4096, sink: { write: (b) => chunks.push(Buffer.from(b)) } },
  });
  const inMemory = buildBenchUnet({ arch: a.unet, float: 'float16', seed: 7, externalData: { location: 'model.onnx_data', align: 4096 } });
  assert.deepEqual(Buffer.from(streamed.model), Buffer.from(inMemory.model));
  assert.ok(inMemory.externalData && inMemory.externalData.bytes.length > 100_000);
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(inMemory.externalData.bytes));
});

const FAMILY: Record<BenchArch, string> = { sd15: 'sd1', 'sd-turbo': 'sd-turbo', sdxl: 'sdxl' };

const dims = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
  Object.fromEntries(list.map((m) => [m.name, m.isTensor ? [m.type, ...m.shape].join(' ') : '']));

for (const arch of BENCH_ARCHS) {
  test(`${arch}, reduced: optimum's layout with external data, real signatures, runs through the pipeline`, async () => {
    const dir = join(root, arch);
    const parts = await createBenchModel(dir, { arch, reduce: 16, seed: 3 });
    const a = ARCHITECTURES[arch];
    const expectedParts = [...a.textEncoders.map((te) => te.part), 'unet', 'vae_decoder', 'vae_encoder'];
    assert.deepEqual(
      parts.map((p) => p.part),
      expectedParts,
    );
    for (const part of expectedParts) {
      assert.ok(existsSync(join(dir, part, 'model.onnx')) && existsSync(join(dir, part, 'config.json')), part);
      assert.ok(statSync(join(dir, part, 'model.onnx_data')).size > statSync(join(dir, part, 'model.onnx')).size, `${part}: weights are external`);
    }
    const index = JSON.parse(readFileSync(join(dir, 'model_index.json'), 'utf8'));
    assert.equal(index._name_or_path, a.nameOrPath);
    const unetConfig = JSON.parse(readFileSync(join(dir, 'unet', 'config.json'), 'utf8'));
    assert.deepEqual(
      unetConfig.block_out_channels,
      a.unet.channels.map((c) => c / 16),
    );

    const unet = await ort.InferenceSession.create(join(dir, 'unet', 'model.onnx'));
    const cross = a.textEncoders.reduce((s, te) => s + te.hidden / 16, 0);
    const expectedInputs: Record<string, string> = {
      sample: 'float32 batch_size 4 height width',
      timestep: 'int64 steps',
      encoder_hidden_states: `float32 batch_size sequence_length ${cross}`,
    };
    if (a.sdxl) Object.assign(expectedInputs, { text_embeds: `float32 batch_size ${1280 / 16}`, time_ids: 'float32 batch_size 6' });
    assert.deepEqual(dims(unet.inputMetadata), expectedInputs);
    assert.deepEqual(dims(unet.outputMetadata), { out_sample: 'float32 batch_size 4 height width' });
    await unet.release();
    const vae = await ort.InferenceSession.create(join(dir, 'vae_encoder', 'model.onnx'));
    assert.deepEqual(dims(vae.outputMetadata), { latent_parameters: 'float32 batch_size 8 height_latent width_latent' });
    await vae.release();

    const pipe = await loadPipeline(dir);
    try {
      assert.equal(pipe.model.family, FAMILY[arch], 'detected as the real model is');
      assert.equal(pipe.defaults.width, arch === 'sdxl' ? 1024 : 512);
      const result = await pipe.generate({
        prompt: 'a photo of a cat',
        seed: 1,
        steps: 2,
        guidanceScale: 7.5,
        width: 128,
        height: 64,
        count: 1,
        scheduler: 'euler',
      });
      assert.equal(pipe.runStats.unetBatch, 2, 'guidance batches the unconditional half');
      const { data, info } = await sharp(result.images[0].png).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height], [128, 64]);
      assert.ok(new Set(data).size > 16, 'a picture of noise, not a flat one (no NaN or overflow)');
    } finally {
      await pipe.dispose();
    }
  });
}

test('--fp16: float16 weights, inputs, outputs and arithmetic, half the bytes, and the pipeline adapts', async () => {
  const dir32 = join(root, 'sd-turbo');
  const dir = join(root, 'sd-turbo-fp16');
  await createBenchModel(dir, { arch: 'sd-turbo', reduce: 16, seed: 3, float16: true });
  const unet = await ort.InferenceSession.create(join(dir, 'unet', 'model.onnx'));
  assert.deepEqual(dims(unet.outputMetadata), { out_sample: 'float16 batch_size 4 height width' });
  await unet.release();
  // Computed in float16 as real fp16 exports are: nothing is cast up to float32 (the only Cast is the timestep's, int64 → float16).
  const graph = onnxProto.onnx.ModelProto.decode(readFileSync(join(dir, 'unet', 'model.onnx'))).graph!;
  const casts = graph.node!.filter((n) => n.opType === 'Cast').map((n) => Number(n.attribute![0].i));
  assert.deepEqual(casts, [onnxProto.onnx.TensorProto.DataType.FLOAT16]);
  const size = (d: string) => statSync(join(d, 'unet', 'model.onnx_data')).size;
  if (existsSync(join(dir32, 'unet'))) assert.ok(size(dir) < 0.6 * size(dir32), `${size(dir)} vs ${size(dir32)}`);
  const pipe = await loadPipeline(dir);
  try {
    const result = await pipe.generate({ prompt: 'a cat', seed: 2, steps: 1, guidanceScale: 0, width: 64, height: 64, count: 1, scheduler: 'euler_a' });
    const { data } = await sharp(result.images[0].png).raw().toBuffer({ resolveWithObject: true });
    assert.ok(new Set(data).size > 16);
  } finally {
    await pipe.dispose();
  }
});

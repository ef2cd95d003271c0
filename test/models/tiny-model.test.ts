import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { createTinyModel, type TinyModelOptions } from '../../src/models/tiny/index.js';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../src/diffusion/float16.js';

const root = mkdtempSync(join(tmpdir(), 'tiny-model-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

let made = 0;
async function model(options: TinyModelOptions = {}): Promise<string> {
  const dir = join(root, `m${made++}`);
  await createTinyModel(dir, options);
  return dir;
}

const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const s of sessions) await s.release();
});
async function load(dir: string, part: string): Promise<ort.InferenceSession> {
  const s = await ort.InferenceSession.create(join(dir, part, 'model.onnx'));
  sessions.push(s);
  return s;
}

type Signature = Record<string, { type: string; shape: readonly (number | string)[] }>;
function signature(list: readonly ort.InferenceSession.ValueMetadata[]): Signature {
  const out: Signature = {};
  for (const m of list) {
    assert.ok(m.isTensor, `${m.name} is a tensor`);
    out[m.name] = { type: m.type, shape: [...m.shape] };
  }
  return out;
}

type Float = 'float32' | 'float16';
function floatTensor(type: Float, data: Float32Array, dims: number[]): ort.Tensor {
  return type === 'float16' ? new ort.Tensor('float16', float32ToFloat16(data), dims) : new ort.Tensor('float32', data, dims);
}
function floats(t: ort.Tensor): Float32Array {
  if (t.type === 'float16') return t.data instanceof Uint16Array ? float16ToFloat32(t.data) : Float32Array.from(t.data as ArrayLike<number>);
  assert.equal(t.type, 'float32');
  return t.data as Float32Array;
}
/** Deterministic test data in [-1, 1] without a generator. */
function wave(n: number, phase: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + phase) * Math.cos(i * 0.013 + 2 * phase));
}
function std(a: Float32Array): number {
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  return Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
}
function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}
function assertFinite(a: Float32Array, what: string): void {
  assert.ok(a.every(Number.isFinite), `${what} is finite`);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}
function json(dir: string, file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
}

// Token ids as CLIPTokenizer gives them: BOS, words, EOS, then padding.
const BOS = 49406;
const EOS = 49407;
function promptIds(words: number[], pad: number, vocabSize: number): Int32Array {
  // Ids are clamped to the vocabulary: without ../shared the tiny tokenizer is a small one.
  const ids = new Int32Array(77).fill(Math.min(pad, vocabSize - 1));
  ids[0] = Math.min(BOS, vocabSize - 2);
  words.forEach((w, i) => (ids[i + 1] = w % (vocabSize - 2)));
  ids[words.length + 1] = Math.min(EOS, vocabSize - 1);
  return ids;
}

const SD_SIGNATURES = {
  text_encoder: {
    in: { input_ids: { type: 'int32', shape: ['batch_size', 'sequence_length'] } },
    out: {
      last_hidden_state: { type: 'float32', shape: ['batch_size', 'sequence_length', 32] },
      pooler_output: { type: 'float32', shape: ['batch_size', 32] },
    },
  },
  unet: {
    in: {
      sample: { type: 'float32', shape: ['batch_size', 4, 'height', 'width'] },
      timestep: { type: 'int64', shape: ['steps'] },
      encoder_hidden_states: { type: 'float32', shape: ['batch_size', 'sequence_length', 32] },
    },
    out: { out_sample: { type: 'float32', shape: ['batch_size', 4, 'height', 'width'] } },
  },
  vae_decoder: {
    in: { latent_sample: { type: 'float32', shape: ['batch_size', 4, 'height_latent', 'width_latent'] } },
    out: { sample: { type: 'float32', shape: ['batch_size', 3, 'height', 'width'] } },
  },
  vae_encoder: {
    in: { sample: { type: 'float32', shape: ['batch_size', 3, 'height', 'width'] } },
    out: { latent_sample: { type: 'float32', shape: ['batch_size', 4, 'height_latent', 'width_latent'] } },
  },
};

test('float16 conversion rounds to nearest even and round-trips every half', () => {
  assert.equal(toFloat16Bits(1), 0x3c00);
  assert.equal(toFloat16Bits(-2), 0xc000);
  assert.equal(toFloat16Bits(65504), 0x7bff);
  assert.equal(toFloat16Bits(1e6), 0x7c00);
  assert.equal(toFloat16Bits(2 ** -24), 0x0001);
  assert.equal(toFloat16Bits(2 ** -26), 0x0000);
  assert.equal(toFloat16Bits(1 + 2 ** -11), 0x3c00, 'a tie rounds to the even mantissa');
  assert.equal(toFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
  for (let h = 0; h < 0x10000; h++) {
    const v = fromFloat16Bits(h);
    if (!Number.isNaN(v)) assert.equal(toFloat16Bits(v), h, `half 0x${h.toString(16)}`);
  }
});

test('writes the diffusers ONNX layout with SD 1.5 configs', async () => {
  const dir = await model();
  assert.deepEqual(filesUnder(dir), [
    'model_index.json',
    'scheduler/scheduler_config.json',
    'text_encoder/config.json',
    'text_encoder/model.onnx',
    'tokenizer/merges.txt',
    'tokenizer/special_tokens_map.json',
    'tokenizer/tokenizer_config.json',
    'tokenizer/vocab.json',
    'unet/config.json',
    'unet/model.onnx',
    'vae_decoder/config.json',
    'vae_decoder/model.onnx',
    'vae_encoder/config.json',
    'vae_encoder/model.onnx',
  ]);
  const index = json(dir, 'model_index.json');
  assert.equal(index._class_name, 'OnnxStableDiffusionPipeline');
  for (const part of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder']) assert.deepEqual(index[part], ['diffusers', 'OnnxRuntimeModel']);
  assert.deepEqual(index.scheduler, ['diffusers', 'PNDMScheduler']);
  assert.deepEqual(index.tokenizer, ['transformers', 'CLIPTokenizer']);

  const sched = json(dir, 'scheduler/scheduler_config.json');
  for (const [k, v] of Object.entries({
    _class_name: 'PNDMScheduler',
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    num_train_timesteps: 1000,
    skip_prk_steps: true,
    steps_offset: 1,
    set_alpha_to_one: false,
    prediction_type: 'epsilon',
    timestep_spacing: 'leading',
  })) {
    assert.equal(sched[k], v, `scheduler_config.${k}`);
  }
  const vocabSize = Object.keys(json(dir, 'tokenizer/vocab.json')).length;
  const te = json(dir, 'text_encoder/config.json');
  assert.equal(te.vocab_size, vocabSize);
  assert.equal(te.hidden_size, 32);
  assert.equal(te.max_position_embeddings, 77);
  const unet = json(dir, 'unet/config.json');
  assert.equal(unet.in_channels, 4);
  assert.equal(unet.sample_size, 32);
  assert.equal(unet.cross_attention_dim, 32);
  for (const part of ['vae_decoder', 'vae_encoder']) assert.equal(json(dir, `${part}/config.json`).scaling_factor, 0.18215);
});

test('default graphs have the signatures of real exports', async () => {
  const dir = await model();
  for (const [part, want] of Object.entries(SD_SIGNATURES)) {
    const s = await load(dir, part);
    assert.deepEqual(signature(s.inputMetadata), want.in, `${part} inputs`);
    assert.deepEqual(signature(s.outputMetadata), want.out, `${part} outputs`);
  }
});

test('text encoder: one embedding row per vocabulary id, pooled output at the EOS token', async () => {
  const dir = await model();
  const vocabSize = Object.keys(json(dir, 'tokenizer/vocab.json')).length;
  const te = await load(dir, 'text_encoder');
  const cat = promptIds([320, 1125, 539, 320, 2368], EOS, vocabSize);
  const house = promptIds([320, 2707, 6052, 530, 550, 4655, 2720], EOS, vocabSize);
  cat[10] = vocabSize - 1; // the last row exists (and, as the highest id, becomes the pooled position)
  const ids = new Int32Array(2 * 77);
  ids.set(cat, 0);
  ids.set(house, 77);
  const out = await te.run({ input_ids: new ort.Tensor('int32', ids, [2, 77]) });
  assert.deepEqual(out.last_hidden_state.dims, [2, 77, 32]);
  assert.deepEqual(out.pooler_output.dims, [2, 32]);
  const hidden = floats(out.last_hidden_state);
  const pooled = floats(out.pooler_output);
  assertFinite(hidden, 'last_hidden_state');
  for (let b = 0; b < 2; b++) {
    const row = ids.subarray(b * 77, b * 77 + 77);
    const at = row.indexOf(Math.max(...row));
    assert.deepEqual(pooled.subarray(b * 32, b * 32 + 32), hidden.subarray((b * 77 + at) * 32, (b * 77 + at + 1) * 32), `pooled ${b}`);
  }
  // Causal attention carries the prompt into the padding states too, as in CLIP.
  const lastPad = (b: number) => hidden.subarray((b * 77 + 76) * 32, (b * 77 + 77) * 32);
  assert.ok(meanAbsDiff(lastPad(0), lastPad(1)) > 1e-3, 'padding states depend on the prompt');
  // Shorter sequences work (positions and mask are cut to the length).
  const short = await te.run({ input_ids: new ort.Tensor('int32', cat.slice(0, 8), [1, 8]) });
  assert.deepEqual(short.last_hidden_state.dims, [1, 8, 32]);
  // …and there is no row past the vocabulary.
  await assert.rejects(te.run({ input_ids: new ort.Tensor('int32', Int32Array.of(vocabSize), [1, 1]) }));
});

async function runUnet(
  s: ort.InferenceSession,
  o: { float: Float; timestep: 'int64' | 'float' | 'float-scalar'; t: number; batch: number; h: number; w: number; sample: Float32Array; text: Float32Array },
): Promise<Float32Array> {
  const tensorT =
    o.timestep === 'int64'
      ? new ort.Tensor('int64', new BigInt64Array(o.batch).fill(BigInt(o.t)), [o.batch])
      : floatTensor(o.float, new Float32Array(o.timestep === 'float-scalar' ? 1 : o.batch).fill(o.t), o.timestep === 'float-scalar' ? [] : [o.batch]);
  const out = await s.run({
    sample: floatTensor(o.float, o.sample, [o.batch, 4, o.h, o.w]),
    timestep: tensorT,
    encoder_hidden_states: floatTensor(o.float, o.text, [o.batch, 77, 32]),
  });
  assert.deepEqual(out.out_sample.dims, [o.batch, 4, o.h, o.w]);
  assert.equal(out.out_sample.type, o.float);
  const data = floats(out.out_sample);
  assertFinite(data, 'out_sample');
  return data;
}

test('UNet uses sample, timestep and text; dynamic sizes; about unit variance', async () => {
  const dir = await model();
  const unet = await load(dir, 'unet');
  const te = await load(dir, 'text_encoder');
  const vocabSize = Object.keys(json(dir, 'tokenizer/vocab.json')).length;
  const encode = async (words: number[]) => {
    const ids = promptIds(words, EOS, vocabSize);
    const out = await te.run({ input_ids: new ort.Tensor('int32', Int32Array.from([...ids, ...ids]), [2, 77]) });
    return floats(out.last_hidden_state);
  };
  const [h, w] = [16, 24];
  const base = {
    float: 'float32' as const,
    timestep: 'int64' as const,
    t: 500,
    batch: 2,
    h,
    w,
    sample: wave(2 * 4 * h * w, 0),
    text: await encode([320, 1125, 539, 320, 2368]),
  };
  const a = await runUnet(unet, base);
  const out = (changes: Partial<typeof base>) => runUnet(unet, { ...base, ...changes });
  const diffs = {
    timestep: meanAbsDiff(a, await out({ t: 100 })),
    text: meanAbsDiff(a, await out({ text: await encode([320, 2707, 6052, 530, 550, 4655, 2720]) })),
    sample: meanAbsDiff(a, await out({ sample: wave(2 * 4 * h * w, 3) })),
  };
  for (const [input, d] of Object.entries(diffs)) assert.ok(d > 0.02, `${input} matters: ${d}`);
  // At t = 999 the input is pure noise, and so is (almost) the predicted noise.
  const noise = Float32Array.from(wave(2 * 4 * h * w, 4), (v) => v * Math.SQRT2);
  const eps = await out({ sample: noise, t: 999 });
  assert.ok(std(eps) > 0.7 && std(eps) < 1.4, `eps std ${std(eps)}`);
  // Other sizes and a single image.
  await runUnet(unet, { ...base, batch: 1, h: 9, w: 5, sample: wave(4 * 45, 0), text: base.text.slice(0, 77 * 32) });
});

test('VAE: the decoder paints smooth 8× pictures in [-1, 1]; the encoder inverts it', async () => {
  const dir = await model();
  const dec = await load(dir, 'vae_decoder');
  const enc = await load(dir, 'vae_encoder');
  const [h, w] = [8, 12];
  // Smooth latents as the pipeline hands them over (scaled latents / 0.18215).
  const z = new Float32Array(4 * h * w);
  for (let c = 0; c < 4; c++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) z[(c * h + y) * w + x] = (Math.sin(x / 3 + c) * Math.cos(y / 4 - c)) / 0.18215;
  const decode = async (latents: Float32Array) => {
    const out = await dec.run({ latent_sample: new ort.Tensor('float32', latents, [1, 4, h, w]) });
    assert.deepEqual(out.sample.dims, [1, 3, 8 * h, 8 * w]);
    return floats(out.sample);
  };
  const img = await decode(z);
  assert.ok(
    img.every((v) => v > -1 && v < 1),
    'in (-1, 1)',
  );
  assert.ok(std(img) > 0.1, 'not flat');
  let neighbour = 0;
  for (let i = 0; i + 1 < img.length; i++) if ((i + 1) % (8 * w) !== 0) neighbour += Math.abs(img[i + 1] - img[i]);
  assert.ok(neighbour / img.length < 0.05, 'smooth colours, not noise');

  const encoded = await enc.run({ sample: new ort.Tensor('float32', img, [1, 3, 8 * h, 8 * w]) });
  assert.deepEqual(encoded.latent_sample.dims, [1, 4, h, w]);
  const again = await decode(floats(encoded.latent_sample));
  assert.ok(meanAbsDiff(img, again) < 0.05, `round trip ${meanAbsDiff(img, again)}`);
});

for (const [label, options, float] of [
  ['float16 weights and I/O', { float16: true }, 'float16'],
  ['float timestep and weights.pb', { timestep: 'float', externalData: 'weights.pb' }, 'float32'],
  [
    'rank-0 float16 timestep, latent_parameters, model.onnx_data',
    { float16: true, timestep: 'float-scalar', vaeEncoderOutput: 'latent_parameters', externalData: true },
    'float16',
  ],
] as const) {
  test(`variant: ${label}`, async () => {
    const opts: TinyModelOptions = options;
    const dir = await model(opts);
    const timestep = opts.timestep ?? 'int64';
    const f = (shape: readonly (number | string)[]) => ({ type: float, shape });
    const unet = await load(dir, 'unet');
    assert.deepEqual(signature(unet.inputMetadata), {
      sample: f(['batch_size', 4, 'height', 'width']),
      timestep: timestep === 'int64' ? { type: 'int64', shape: ['steps'] } : f(timestep === 'float-scalar' ? [] : ['steps']),
      encoder_hidden_states: f(['batch_size', 'sequence_length', 32]),
    });
    assert.deepEqual(signature(unet.outputMetadata), { out_sample: f(['batch_size', 4, 'height', 'width']) });
    const base = { float, timestep, t: 999, batch: 2, h: 8, w: 8, sample: wave(2 * 4 * 64, 0), text: wave(2 * 77 * 32, 1) };
    const a = await runUnet(unet, base);
    assert.ok(meanAbsDiff(a, await runUnet(unet, { ...base, t: 20 })) > 0.01, 'timestep matters');

    const te = await load(dir, 'text_encoder');
    assert.deepEqual(signature(te.outputMetadata), {
      last_hidden_state: f(['batch_size', 'sequence_length', 32]),
      pooler_output: f(['batch_size', 32]),
    });
    const text = await te.run({
      input_ids: new ort.Tensor(
        'int32',
        Int32Array.from({ length: 77 }, (_, i) => i),
        [1, 77],
      ),
    });
    assertFinite(floats(text.last_hidden_state), 'text states');

    const dec = await load(dir, 'vae_decoder');
    const img = await dec.run({ latent_sample: floatTensor(float, wave(4 * 16, 0), [1, 4, 4, 4]) });
    assert.equal(img.sample.type, float);
    assert.deepEqual(img.sample.dims, [1, 3, 32, 32]);

    const enc = await load(dir, 'vae_encoder');
    const outName = opts.vaeEncoderOutput ?? 'latent_sample';
    const channels = outName === 'latent_parameters' ? 8 : 4;
    assert.deepEqual(signature(enc.outputMetadata), { [outName]: f(['batch_size', channels, 'height_latent', 'width_latent']) });
    const lat = await enc.run({ sample: floatTensor(float, floats(img.sample), [1, 3, 32, 32]) });
    assert.deepEqual(lat[outName].dims, [1, channels, 4, 4]);
    assertFinite(floats(lat[outName]), 'latents');
    if (channels === 8)
      assert.ok(
        floats(lat[outName])
          .subarray(64)
          .every((v) => v < -5),
        'log-variance half: nearly deterministic',
      );

    // Weights are stored as real exports store them.
    const { onnx } = onnxProto;
    const unetProto = onnx.ModelProto.decode(readFileSync(join(dir, 'unet/model.onnx')));
    assert.equal(Number(unetProto.irVersion), 8);
    assert.equal(Number(unetProto.opsetImport[0].version), 17);
    const inits = unetProto.graph!.initializer!;
    const floatInits = inits.filter((t) => t.dataType === onnx.TensorProto.DataType.FLOAT || t.dataType === onnx.TensorProto.DataType.FLOAT16);
    const want = float === 'float16' ? onnx.TensorProto.DataType.FLOAT16 : onnx.TensorProto.DataType.FLOAT;
    assert.ok(floatInits.length > 0 && floatInits.every((t) => t.dataType === want), 'float initializers in the export precision');
    const location = opts.externalData === true ? 'model.onnx_data' : opts.externalData;
    if (location) {
      const side = readFileSync(join(dir, 'unet', location));
      const external = inits.filter((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL);
      assert.ok(external.length > 0, 'some weights are external');
      let end = 0;
      for (const t of external) {
        const kv = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
        assert.equal(kv.location, location);
        end = Math.max(end, Number(kv.offset) + Number(kv.length));
        assert.equal(t.rawData?.length ?? 0, 0);
      }
      assert.equal(end, side.length, 'entries cover the side file');
      assert.ok(statSync(join(dir, 'unet/model.onnx')).size < side.length, 'the graph file holds the small rest');
    } else {
      assert.ok(!existsSync(join(dir, 'unet/model.onnx_data')) && !existsSync(join(dir, 'unet/weights.pb')));
    }
  });
}

test('config options: v-prediction, scheduler class, SD 2 padding, sizes', async () => {
  const dir = await model({ predictionType: 'v_prediction', scheduler: 'EulerDiscreteScheduler', padToken: '!', hidden: 16, channels: 8 });
  const sched = json(dir, 'scheduler/scheduler_config.json');
  assert.equal(sched.prediction_type, 'v_prediction');
  assert.equal(sched._class_name, 'EulerDiscreteScheduler');
  assert.deepEqual(json(dir, 'model_index.json').scheduler, ['diffusers', 'EulerDiscreteScheduler']);
  assert.equal(json(dir, 'tokenizer/special_tokens_map.json').pad_token, '!');
  assert.equal(json(dir, 'unet/config.json').cross_attention_dim, 16);
  const te = await load(dir, 'text_encoder');
  assert.deepEqual(signature(te.outputMetadata).pooler_output.shape, ['batch_size', 16]);
  const unet = await load(dir, 'unet');
  assert.deepEqual(signature(unet.inputMetadata).encoder_hidden_states.shape, ['batch_size', 'sequence_length', 16]);
  // A v-prediction UNet at t = 999 on pure noise predicts v ≈ -x0 ≈ small, not ε ≈ x.
  const eps = await load(await model(), 'unet');
  const x = Float32Array.from(wave(4 * 64, 4), (v) => v * Math.SQRT2);
  const run = (s: ort.InferenceSession, hidden: number) =>
    s.run({
      sample: new ort.Tensor('float32', x, [1, 4, 8, 8]),
      timestep: new ort.Tensor('int64', BigInt64Array.of(999n), [1]),
      encoder_hidden_states: new ort.Tensor('float32', wave(77 * hidden, 1), [1, 77, hidden]),
    });
  const v = floats((await run(unet, 16)).out_sample);
  const e = floats((await run(eps, 32)).out_sample);
  assert.ok(meanAbsDiff(e, x) < 0.2 * std(x), 'ε ≈ x at the noisiest step');
  assert.ok(meanAbsDiff(v, x) > 0.5 * std(x), 'v is a different target');
  await assert.rejects(createTinyModel(join(root, 'bad'), { channels: 3 }), /channels must be even/);
});

test('the same options give byte-identical files; another seed other weights', async () => {
  for (const options of [{}, { float16: true, externalData: true }] as TinyModelOptions[]) {
    const [a, b] = [await model(options), await model(options)];
    const files = filesUnder(a);
    assert.deepEqual(filesUnder(b), files);
    for (const f of files) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f);
  }
  const [a, c] = [await model(), await model({ seed: 7 })];
  assert.ok(!readFileSync(join(a, 'unet/model.onnx')).equals(readFileSync(join(c, 'unet/model.onnx'))));
});

test('refuses a foreign non-empty folder; rewrites a model folder without stale side files', async () => {
  const other = mkdtempSync(join(root, 'other-'));
  writeFileSync(join(other, 'notes.txt'), 'mine');
  await assert.rejects(createTinyModel(other), /not empty and is not a model folder/);
  assert.deepEqual(readdirSync(other), ['notes.txt']);
  const file = join(root, 'a-file');
  writeFileSync(file, '');
  await assert.rejects(createTinyModel(file), /not a folder/);

  const dir = await model({ externalData: true });
  assert.ok(existsSync(join(dir, 'unet/model.onnx_data')));
  await createTinyModel(dir);
  assert.ok(!existsSync(join(dir, 'unet/model.onnx_data')), 'the old side file is gone');
  const s = await load(dir, 'unet');
  assert.deepEqual(signature(s.inputMetadata).timestep, { type: 'int64', shape: ['steps'] });
});

test('UNet speed: 32×32 latents (256×256 images), batch 2', async (t) => {
  const unet = await ort.InferenceSession.create(join(await model(), 'unet/model.onnx'), { graphOptimizationLevel: 'all' });
  sessions.push(unet);
  const feeds = {
    sample: new ort.Tensor('float32', wave(2 * 4 * 32 * 32, 0), [2, 4, 32, 32]),
    timestep: new ort.Tensor('int64', BigInt64Array.of(500n, 500n), [2]),
    encoder_hidden_states: new ort.Tensor('float32', wave(2 * 77 * 32, 1), [2, 77, 32]),
  };
  for (let i = 0; i < 3; i++) await unet.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    await unet.run(feeds);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[7];
  t.diagnostic(`UNet 2×4×32×32: median ${median.toFixed(2)} ms, best ${times[0].toFixed(2)} ms`);
  // Generous: a 20-step, guided 256×256 picture must stay at seconds on a shared 2-core box.
  assert.ok(median < 100, `median ${median} ms`);
});

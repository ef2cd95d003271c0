// createTinyModel's SDXL and LCM layouts: folders, configs and the ONNX signatures optimum
// exports for those families.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createTinyModel, type TinyModelOptions } from '../../src/models/tiny/index.js';

const root = mkdtempSync(join(tmpdir(), 'tiny-layouts-'));
const sessions: ort.InferenceSession[] = [];
after(async () => {
  for (const s of sessions) await s.release();
  rmSync(root, { recursive: true, force: true });
});

let made = 0;
async function model(options: TinyModelOptions, dir = join(root, `m${made++}`)): Promise<string> {
  await createTinyModel(dir, options);
  return dir;
}
async function signature(dir: string, part: string) {
  const s = await ort.InferenceSession.create(join(dir, part, 'model.onnx'));
  sessions.push(s);
  const describe = (list: readonly ort.InferenceSession.ValueMetadata[]) =>
    Object.fromEntries(list.map((m) => [m.name, m.isTensor ? `${m.type}[${m.shape.join(',')}]` : 'non-tensor']));
  return { in: describe(s.inputMetadata), out: describe(s.outputMetadata), session: s };
}
function json(dir: string, file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
}

const SEQ = 'float32[batch_size,sequence_length';

test('sdxl layout: two encoders with hidden_states, tokenizer_2 padding with "!", UNet with text_embeds and time_ids', async () => {
  const dir = await model({ layout: 'sdxl' });
  for (const part of ['text_encoder_2', 'tokenizer_2']) assert.ok(statSync(join(dir, part)).isDirectory(), part);
  const index = json(dir, 'model_index.json');
  assert.equal(index._class_name, 'StableDiffusionXLPipeline');
  assert.equal(index.force_zeros_for_empty_prompt, true);
  assert.deepEqual(index.text_encoder_2, ['transformers', 'CLIPTextModelWithProjection']);
  assert.deepEqual(index.scheduler, ['diffusers', 'EulerDiscreteScheduler']);
  assert.equal(json(dir, 'tokenizer_2/special_tokens_map.json').pad_token, '!');
  assert.equal(json(dir, 'tokenizer/special_tokens_map.json').pad_token, '<|endoftext|>');
  assert.equal(json(dir, 'text_encoder_2/config.json').projection_dim, 64);
  const unetConfig = json(dir, 'unet/config.json');
  assert.equal(unetConfig.addition_embed_type, 'text_time');
  assert.equal(unetConfig.cross_attention_dim, 96);
  assert.equal(unetConfig.projection_class_embeddings_input_dim, 64 + 6 * 8);

  const te = await signature(dir, 'text_encoder');
  assert.deepEqual(te.out, {
    last_hidden_state: `${SEQ},32]`,
    pooler_output: 'float32[batch_size,32]',
    'hidden_states.0': `${SEQ},32]`,
    'hidden_states.1': `${SEQ},32]`,
    'hidden_states.2': `${SEQ},32]`,
  });
  const te2 = await signature(dir, 'text_encoder_2');
  assert.deepEqual(te2.in, { input_ids: 'int32[batch_size,sequence_length]' });
  assert.deepEqual(te2.out, {
    text_embeds: 'float32[batch_size,64]',
    last_hidden_state: `${SEQ},64]`,
    'hidden_states.0': `${SEQ},64]`,
    'hidden_states.1': `${SEQ},64]`,
    'hidden_states.2': `${SEQ},64]`,
  });
  const unet = await signature(dir, 'unet');
  assert.deepEqual(unet.in, {
    sample: 'float32[batch_size,4,height,width]',
    timestep: 'int64[steps]',
    encoder_hidden_states: `${SEQ},96]`,
    text_embeds: 'float32[batch_size,64]',
    time_ids: 'float32[batch_size,6]',
  });

  // hidden_states.0 is the embeddings, the last one the pre-LayerNorm output of the last layer.
  // The end-of-text id is the vocabulary's last (49407 with CLIP's, less without ../shared).
  const eos = Object.keys(json(dir, 'tokenizer_2/vocab.json')).length - 1;
  const ids = new ort.Tensor(
    'int32',
    Int32Array.from({ length: 77 }, (_, i) => (i < 5 ? 320 + i : eos)),
    [1, 77],
  );
  const out = await te2.session.run({ input_ids: ids });
  const h = (name: string) => out[name].data as Float32Array;
  assert.notDeepEqual(h('hidden_states.1'), h('hidden_states.2'));
  assert.notDeepEqual(h('hidden_states.2'), h('last_hidden_state'));
});

test('lcm layout: timestep_cond input, time_cond_proj_dim, the LCM scheduler config', async () => {
  const dir = await model({ layout: 'lcm' });
  assert.ok(!existsSync(join(dir, 'text_encoder_2')));
  assert.equal(json(dir, 'model_index.json')._class_name, 'LatentConsistencyModelPipeline');
  assert.equal(json(dir, 'unet/config.json').time_cond_proj_dim, 16);
  const sched = json(dir, 'scheduler/scheduler_config.json');
  for (const [k, v] of Object.entries({ _class_name: 'LCMScheduler', original_inference_steps: 50, timestep_scaling: 10, set_alpha_to_one: true })) {
    assert.equal(sched[k], v, k);
  }
  const unet = await signature(dir, 'unet');
  assert.equal(unet.in.timestep_cond, 'float32[batch_size,16]');
  const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
  const run = async (cond: Float32Array) =>
    (
      await unet.session.run({
        sample: new ort.Tensor('float32', wave(4 * 64, 0), [1, 4, 8, 8]),
        timestep: new ort.Tensor('int64', BigInt64Array.of(499n), [1]),
        encoder_hidden_states: new ort.Tensor('float32', wave(77 * 32, 1), [1, 77, 32]),
        timestep_cond: new ort.Tensor('float32', cond, [1, 16]),
      })
    ).out_sample.data as Float32Array;
  const a = await run(new Float32Array(16));
  const b = await run(wave(16, 3));
  const diff = a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
  assert.ok(diff > 0.01, `timestep_cond matters: ${diff}`);
});

test('sdxl-lcm has both; float16 layouts keep float16 IO; same options, same bytes; rewrites drop stale parts', async () => {
  const both = await signature(await model({ layout: 'sdxl-lcm' }), 'unet');
  assert.deepEqual(Object.keys(both.in), ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids', 'timestep_cond']);
  const fp16 = await signature(await model({ layout: 'sdxl', float16: true }), 'text_encoder_2');
  assert.equal(fp16.out.text_embeds, 'float16[batch_size,64]');

  const [a, b] = [await model({ layout: 'sdxl' }), await model({ layout: 'sdxl' })];
  const files = readdirSync(a, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(a, f)).isFile());
  for (const f of files) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), f);

  await createTinyModel(a, { layout: 'sd' });
  assert.ok(!existsSync(join(a, 'text_encoder_2')) && !existsSync(join(a, 'tokenizer_2')), 'an SD rewrite is not mistaken for SDXL');
  await assert.rejects(createTinyModel(join(root, 'bad'), { layout: 'flux' as never }), /Invalid tiny model options/);
});

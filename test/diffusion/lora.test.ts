// LoRA merging on ONNX exports: the safetensors reader, both file layouts, the name-based
// mapping on an export-style tiny UNet (anonymous MatMul weights, scoped node names), and the
// pipeline's pixels against a model this test merges itself.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { extractLoraTags, parseLoraArg } from '../../src/diffusion/lora/choices.js';
import { indexTargets } from '../../src/diffusion/lora/onnx-targets.js';
import { addnetHash, encodeSafetensors, parseSafetensors } from '../../src/diffusion/lora/safetensors.js';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { createTinyLora } from '../../src/models/tiny/index.js';
import { tinyModel } from '../support/tiny-models.js';

const { onnx } = onnxProto;
const tmp = mkdtempSync(join(tmpdir(), 'lora-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const request: GenerationRequest = { prompt: 'a red fox in the snow', seed: 42, steps: 3, guidanceScale: 7.5, width: 64, height: 64, count: 1 };

async function pixels(modelDir: string, loras: { name: string; path: string; weight: number }[] = [], req = request): Promise<Buffer> {
  const pipe = await loadPipeline(modelDir, { loras });
  try {
    return await sharp((await pipe.generate(req)).images[0].png)
      .raw()
      .toBuffer();
  } finally {
    await pipe.dispose();
  }
}

/**
 * The test's own merge, independent of src/diffusion/lora: finds each weight through the node
 * names torch writes, W += Σ_k (s·up[o,k])·down[k,i] in float32 as the engine sums, and writes a model.
 */
function mergeByHand(modelDir: string, part: string, loraPath: string, weight: number, outDir: string): void {
  const lora = parseSafetensors(readFileSync(loraPath), 'lora');
  const f32 = (name: string) => {
    const t = lora.tensors.get(name);
    assert.ok(t, name);
    return new Float32Array(new Uint8Array(t.bytes).buffer);
  };
  const path = join(modelDir, part, 'model.onnx');
  const model = onnx.ModelProto.decode(readFileSync(path));
  const graph = model.graph!;
  const prefix = part === 'unet' ? 'lora_unet_' : 'lora_te_';
  for (const name of lora.tensors.keys()) {
    if (!name.startsWith(prefix) || !name.endsWith('.lora_down.weight')) continue;
    const base = name.slice(0, -'.lora_down.weight'.length);
    const key = base.slice(prefix.length);
    const node = graph.node!.find(
      (n) => n.name && /^\/.*\/(MatMul|Conv)$/.test(n.name) && n.name.split('/').slice(1, -1).join('_').replace(/\./g, '_') === key,
    );
    assert.ok(node, `a node for ${key}`);
    const init = graph.initializer!.find((t) => t.name === node.input![1])!;
    const dims = init.dims!.map(Number);
    const w = new Float32Array(new Uint8Array(init.rawData!).buffer);
    const down = f32(`${base}.lora_down.weight`);
    const up = f32(`${base}.lora_up.weight`);
    const alpha = f32(`${base}.alpha`)[0];
    const r = lora.tensors.get(`${base}.lora_down.weight`)!.shape[0];
    const s = (weight * alpha) / r;
    const conv = node.opType === 'Conv';
    const out = conv ? dims[0] : dims[1];
    const inner = w.length / out;
    const delta = new Float32Array(out * inner);
    for (let o = 0; o < out; o++) for (let k = 0; k < r; k++) for (let i = 0; i < inner; i++) delta[o * inner + i] += up[o * r + k] * s * down[k * inner + i];
    for (let o = 0; o < out; o++) for (let i = 0; i < inner; i++) w[conv ? o * inner + i : i * out + o] += delta[o * inner + i];
    init.rawData = new Uint8Array(w.buffer);
  }
  writeFileSync(join(outDir, part, 'model.onnx'), onnx.ModelProto.encode(model).finish());
}

describe('safetensors', () => {
  it('reads what it writes, with metadata', () => {
    const bytes = encodeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) } }, { k: 'v' });
    const f = parseSafetensors(bytes, 'x.safetensors');
    assert.deepEqual(f.metadata, { k: 'v' });
    assert.deepEqual(f.tensors.get('a')?.shape, [2, 2]);
    assert.equal(f.dataOffset % 8, 0);
  });

  it('refuses pickled PyTorch files and malformed headers with clear messages', () => {
    const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]);
    assert.throws(() => parseSafetensors(zip, 'style.pt'), /style\.pt is a pickled PyTorch file.*\.safetensors/);
    assert.throws(() => parseSafetensors(Buffer.from([0x80, 0x02, 0x7d, 0x71, 0, 0, 0, 0, 0]), 'old.ckpt'), /pickled/);
    const bad = Buffer.alloc(16);
    bad.writeBigUInt64LE(1000n);
    assert.throws(() => parseSafetensors(bad, 'cut.safetensors'), /not a valid \.safetensors file: header length/);
  });

  it("hashes as A1111's addnet_hash_safetensors: sha256 of the data after the header, metadata excluded", () => {
    const t = { w: { dtype: 'F32' as const, shape: [3], data: Float32Array.of(1, 2, 3) } };
    const a = encodeSafetensors(t, { note: 'one' });
    const b = encodeSafetensors(t, { note: 'a much longer note' });
    assert.equal(addnetHash(a), addnetHash(b));
    const headerLen = Number(a.readBigUInt64LE(0));
    assert.equal(
      addnetHash(a),
      createHash('sha256')
        .update(a.subarray(8 + headerLen))
        .digest('hex'),
    );
  });
});

describe('how LoRAs are named', () => {
  it("takes A1111's <lora:name:weight> out of the prompt", () => {
    assert.deepEqual(extractLoraTags('a cat <lora:ink-style:0.8>, watercolor <lora:Other>'), {
      prompt: 'a cat, watercolor',
      loras: [
        { name: 'ink-style', weight: 0.8 },
        { name: 'Other', weight: 1 },
      ],
    });
    assert.throws(() => extractLoraTags('<lora:x:heavy>'), /weight must be a number/);
  });

  it('parses --lora FILE_OR_NAME[:WEIGHT]', () => {
    assert.deepEqual(parseLoraArg('style:0.6'), { ref: 'style', weight: 0.6 });
    assert.deepEqual(parseLoraArg('dir/x.safetensors'), { ref: 'dir/x.safetensors', weight: 1 });
    assert.deepEqual(parseLoraArg('x:-1'), { ref: 'x', weight: -1 });
    assert.throws(() => parseLoraArg('x:9'), /between -4 and 4/);
  });
});

describe('LoRA merge on ONNX exports', () => {
  let model: string;
  let kohya: string;
  let peft: string;
  before(async () => {
    model = await tinyModel({ exportNames: true }, 'export-names');
    kohya = join(tmp, 'style.safetensors');
    peft = join(tmp, 'style-peft.safetensors');
    await createTinyLora(kohya, { model, format: 'kohya' });
    await createTinyLora(peft, { model, format: 'peft' });
  });

  it('maps by initializer name (Conv) and by torch.onnx.export node scope (anonymous MatMul weights)', () => {
    const graph = onnx.ModelProto.decode(readFileSync(join(model, 'unet', 'model.onnx'))).graph!;
    const targets = indexTargets(graph);
    const q = targets.get('mid_block_attentions_0_transformer_blocks_0_attn2_to_q');
    assert.ok(q);
    assert.match(q.tensor.name ?? '', /^onnx::MatMul_\d+$/);
    assert.equal(q.layout, 'in_out');
    const convIn = targets.get('conv_in');
    assert.equal(convIn?.tensor.name, 'conv_in.weight');
    assert.equal(convIn?.layout, 'out_in');
    assert.deepEqual(convIn?.dims.slice(2), [3, 3]);
    assert.ok(targets.has('time_embedding_linear_1'));
  });

  it('weight 0 gives the base image bit for bit', async () => {
    const base = await pixels(model);
    assert.ok((await pixels(model, [{ name: 'style', path: kohya, weight: 0 }])).equals(base));
  });

  it('weight w gives the pixels of a model this test merged itself, and reports every module matched', async () => {
    const merged = join(tmp, 'merged');
    cpSync(model, merged, { recursive: true });
    mergeByHand(model, 'unet', kohya, 0.8, merged);
    mergeByHand(model, 'text_encoder', kohya, 0.8, merged);
    const expected = await pixels(merged);
    const pipe = await loadPipeline(model, { loras: [{ name: 'style', path: kohya, weight: 0.8 }] });
    try {
      assert.deepEqual(
        pipe.loras.map((l) => [l.name, l.matched, l.unmatched.length]),
        [['style', 14, 0]],
      );
      const got = await sharp((await pipe.generate(request)).images[0].png)
        .raw()
        .toBuffer();
      assert.ok(got.equals(expected), 'LoRA pipeline matches the hand-merged model');
      assert.ok(!got.equals(await pixels(model)), 'and differs from the base');
    } finally {
      await pipe.dispose();
    }
  });

  it('kohya and PEFT layouts of the same LoRA agree; two LoRAs add up', async () => {
    const k = await pixels(model, [{ name: 'style', path: kohya, weight: 1 }]);
    assert.ok((await pixels(model, [{ name: 'style-peft', path: peft, weight: 1 }])).equals(k));
    const halves = await pixels(model, [
      { name: 'style', path: kohya, weight: 0.5 },
      { name: 'style-peft', path: peft, weight: 0.5 },
    ]);
    // Summed in another order than one LoRA at weight 1, so equal up to float rounding.
    let maxDiff = 0;
    for (let i = 0; i < k.length; i++) maxDiff = Math.max(maxDiff, Math.abs(k[i] - halves[i]));
    assert.ok(maxDiff <= 1, `0.5 + 0.5 of the same LoRA ≈ 1 of it (max pixel difference ${maxDiff})`);
    assert.ok(!halves.equals(await pixels(model)));
  });

  it('records Lora hashes in the PNG parameters and keeps the prompt as written', async () => {
    const pipe = await loadPipeline(model, { loras: [{ name: 'style', path: kohya, weight: 1 }] });
    try {
      const png = (await pipe.generate({ ...request, prompt: 'a fox <lora:style:1>' })).images[0].png;
      const hash = addnetHash(readFileSync(kohya)).slice(0, 12);
      const text = png.toString('latin1');
      assert.ok(text.includes('a fox <lora:style:1>'));
      assert.ok(text.includes(`Lora hashes: "style: ${hash}"`), text.slice(0, 400));
    } finally {
      await pipe.dispose();
    }
    // The tag never reaches the text encoder: same pixels as the bare prompt with the LoRA.
    const tagged = await pixels(model, [{ name: 'style', path: kohya, weight: 1 }], { ...request, prompt: 'a fox <lora:style:1>' });
    assert.ok(tagged.equals(await pixels(model, [{ name: 'style', path: kohya, weight: 1 }], { ...request, prompt: 'a fox' })));
  });

  it('fp16 weights in external data (model.onnx_data) merge too', async () => {
    const fp16 = await tinyModel({ exportNames: true, float16: true, externalData: true }, 'export-names-fp16');
    const lora = join(tmp, 'fp16.safetensors');
    await createTinyLora(lora, { model: fp16 });
    const base = await pixels(fp16);
    assert.ok((await pixels(fp16, [{ name: 'fp16', path: lora, weight: 0 }])).equals(base));
    const pipe = await loadPipeline(fp16, { loras: [{ name: 'fp16', path: lora, weight: 1 }] });
    try {
      assert.equal(pipe.loras[0].matched, 14);
      assert.ok(
        !(
          await sharp((await pipe.generate(request)).images[0].png)
            .raw()
            .toBuffer()
        ).equals(base),
      );
    } finally {
      await pipe.dispose();
    }
  });

  it('names the modules it could not match and still applies the rest', async () => {
    const f = parseSafetensors(readFileSync(kohya), 'style');
    const tensors: Parameters<typeof encodeSafetensors>[0] = {};
    for (const [name, t] of f.tensors) tensors[name] = { dtype: 'F32', shape: t.shape, data: new Float32Array(new Uint8Array(t.bytes).buffer) };
    tensors['lora_unet_up_blocks_3_attentions_2_proj_out.lora_down.weight'] = { dtype: 'F32', shape: [4, 8], data: new Float32Array(32) };
    tensors['lora_unet_up_blocks_3_attentions_2_proj_out.lora_up.weight'] = { dtype: 'F32', shape: [8, 4], data: new Float32Array(32) };
    const extra = join(tmp, 'extra.safetensors');
    writeFileSync(extra, encodeSafetensors(tensors));
    const pipe = await loadPipeline(model, { loras: [{ name: 'extra', path: extra, weight: 1 }] });
    try {
      assert.equal(pipe.loras[0].matched, 14);
      assert.deepEqual(pipe.loras[0].unmatched, ['lora_unet_up_blocks_3_attentions_2_proj_out']);
    } finally {
      await pipe.dispose();
    }
  });

  it('a LoRA for another model (zero matches) is an error naming the LoRA and the model', async () => {
    const other = await tinyModel({ exportNames: true, channels: 16, hidden: 24 }, 'export-names-16');
    await assert.rejects(loadPipeline(other, { loras: [{ name: 'style', path: kohya, weight: 1 }] }), (err: Error) => {
      assert.match(err.message, /LoRA "style" \(style\.safetensors\) matched none of model export-names-16-\w+'s weights.*another model family/);
      return true;
    });
    const plain = await tinyModel();
    await assert.rejects(loadPipeline(plain, { loras: [{ name: 'style', path: kohya, weight: 1 }] }), /matched none of model/);
    // The failed loads left nothing behind: the base model still loads and draws.
    assert.equal((await pixels(other)).length, 64 * 64 * 3);
  });

  it('refuses a pickled .pt LoRA before reading any weights', async () => {
    const pt = join(tmp, 'old.pt');
    writeFileSync(pt, Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6]));
    await assert.rejects(loadPipeline(model, { loras: [{ name: 'old', path: pt, weight: 1 }] }), /old\.pt is a pickled PyTorch file/);
  });
});

describe('jobs carry their LoRAs', () => {
  it('through the worker IPC and the Redis job data, with weights and hashes; bad entries are refused', async () => {
    const { redisJobDataSchema } = await import('../../src/queue/redis-protocol.js');
    const { runJobSchema } = await import('../../src/queue/ipc.js');
    const loras = [{ name: 'ink', weight: 0.7, hash: '0123456789ab' }];
    const request = { ...request0(), loras };
    const redis = redisJobDataSchema.parse(JSON.parse(JSON.stringify({ id: 'j1', kind: 'txt2img', model: 'tiny', request, userId: 'u', owner: 'o' })));
    assert.deepEqual(redis.request.loras, loras);
    const ipc = runJobSchema.parse({ id: 'j1', kind: 'txt2img', model: 'tiny', request, outputDir: '/tmp/x' });
    assert.deepEqual(ipc.request.loras, loras);
    assert.equal(
      runJobSchema.safeParse({ id: 'j', kind: 'txt2img', model: 'tiny', request: { ...request, loras: [{ name: '../x', weight: 1 }] }, outputDir: '/t' })
        .success,
      false,
    );
    assert.equal(
      runJobSchema.safeParse({ id: 'j', kind: 'txt2img', model: 'tiny', request: { ...request, loras: [{ name: 'x', weight: 9 }] }, outputDir: '/t' }).success,
      false,
    );
  });
});

function request0() {
  return { prompt: 'a fox <lora:ink:0.7>', seed: 1, steps: 2, guidanceScale: 7, width: 64, height: 64, count: 1 };
}

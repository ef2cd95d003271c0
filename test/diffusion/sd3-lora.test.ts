// LoRAs on Stable Diffusion 3 (the tiny SD3 with torch.onnx.export names): diffusers/PEFT
// `transformer.…` files, sd-scripts' SAI MMDiT names (fused qkv split by up rows), the report,
// and refusals of UNet LoRAs on SD3 (and SD3 LoRAs on a UNet model).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { loraFromSafetensors } from '../../src/diffusion/lora/lora-file.js';
import { indexTargets } from '../../src/diffusion/lora/onnx-targets.js';
import { encodeSafetensors, parseSafetensors } from '../../src/diffusion/lora/safetensors.js';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import type { GenerationRequest } from '../../src/diffusion/types.js';
import { createTinyLora } from '../../src/models/tiny/lora.js';
import { tinyModel } from '../support/tiny-models.js';

const tmp = mkdtempSync(join(tmpdir(), 'sd3-lora-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const request: GenerationRequest = { prompt: 'a red house', seed: 5, steps: 2, guidanceScale: 4.5, width: 64, height: 64, count: 1 };
type Tensors = Parameters<typeof encodeSafetensors>[0];

async function pixels(modelDir: string, loras: { name: string; path: string; weight: number }[] = []): Promise<Buffer> {
  const pipe = await loadPipeline(modelDir, { loras });
  try {
    return await sharp((await pipe.generate(request)).images[0].png)
      .raw()
      .toBuffer();
  } finally {
    await pipe.dispose();
  }
}

/** A LoRA file's tensors as float32 arrays, to write variants of it. */
function tensorsOf(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const f = parseSafetensors(readFileSync(path), 'lora');
  return new Map([...f.tensors].map(([n, t]) => [n, { shape: t.shape, data: new Float32Array(new Uint8Array(t.bytes).buffer) }]));
}

const f32 = (shape: number[], data: Float32Array) => ({ dtype: 'F32' as const, shape, data });

describe('LoRA on the SD3 transformer', () => {
  let model: string;
  let peft: string;
  let kohya: string;
  before(async () => {
    model = await tinyModel({ layout: 'sd3', t5: false, exportNames: true }, 'sd3-export-names');
    peft = join(tmp, 'sd3-style.safetensors');
    kohya = join(tmp, 'sd3-style-kohya.safetensors');
    await createTinyLora(peft, { model, format: 'peft' });
    await createTinyLora(kohya, { model, format: 'kohya' });
  });

  it('the tiny SD3 names its transformer nodes as optimum exports do, and draws the same picture as without names', async () => {
    const graph = onnxProto.onnx.ModelProto.decode(readFileSync(join(model, 'transformer', 'model.onnx'))).graph!;
    const targets = indexTargets(graph);
    const q = targets.get('transformer_blocks_0_attn_to_q');
    assert.ok(q, 'found by the node scope /transformer_blocks.0/attn/to_q/MatMul');
    assert.match(q.tensor.name ?? '', /^onnx::MatMul_\d+$/);
    assert.ok(graph.node!.some((n) => n.name === '/transformer_blocks.0/attn/to_q/MatMul'));
    assert.equal(targets.get('pos_embed_proj')?.tensor.name, 'pos_embed.proj.weight');
    assert.ok(targets.has('time_text_embed_timestep_embedder_linear_1'));
    const plain = await tinyModel({ layout: 'sd3', t5: false }, 'sd3-no-t5');
    assert.ok((await pixels(model)).equals(await pixels(plain)), 'renaming changed no number');
  });

  it('a PEFT transformer.… LoRA changes the picture, weight 0 gives the same bits, and the report counts every module', async () => {
    const base = await pixels(model);
    assert.ok((await pixels(model, [{ name: 'style', path: peft, weight: 0 }])).equals(base));
    const pipe = await loadPipeline(model, { loras: [{ name: 'style', path: peft, weight: 1 }] });
    try {
      const file = loraFromSafetensors(parseSafetensors(readFileSync(peft), 'x'), peft);
      const transformerModules = file.modules.filter((m) => m.part === 'transformer').length;
      assert.equal(transformerModules, 11);
      assert.deepEqual(
        pipe.loras.map((l) => [l.name, l.matched, l.unmatched.length]),
        [['style', file.modules.length, 0]],
      );
      const got = await sharp((await pipe.generate(request)).images[0].png)
        .raw()
        .toBuffer();
      assert.ok(!got.equals(base), 'the LoRA changed the picture');
    } finally {
      await pipe.dispose();
    }
    // kohya-style names for the same numbers merge to the same model.
    assert.ok((await pixels(model, [{ name: 'k', path: kohya, weight: 1 }])).equals(await pixels(model, [{ name: 'style', path: peft, weight: 1 }])));
  });

  it("sd-scripts' SAI names (fused qkv, x_embedder, final_layer) merge as the diffusers modules they split into", async () => {
    const t = tensorsOf(peft);
    const get = (module: string, ab: 'A' | 'B') => {
      const x = t.get(`transformer.${module}.lora_${ab}.weight`);
      assert.ok(x, module);
      return x;
    };
    // A PEFT file whose to_q/to_k/to_v share to_q's down matrix, and the same LoRA in SAI names.
    const shared = get('transformer_blocks.0.attn.to_q', 'A');
    const diffusers: Tensors = {};
    const sai: Tensors = {};
    const attn = ['to_q', 'to_k', 'to_v'].map((p) => `transformer_blocks.0.attn.${p}`);
    for (const m of attn) {
      diffusers[`transformer.${m}.lora_A.weight`] = f32(shared.shape, shared.data);
      diffusers[`transformer.${m}.lora_B.weight`] = f32(get(m, 'B').shape, get(m, 'B').data);
    }
    const ups = attn.map((m) => get(m, 'B'));
    const qkvUp = Float32Array.from(ups.flatMap((u) => Array.from(u.data)));
    sai['lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight'] = f32(shared.shape, shared.data);
    sai['lora_unet_joint_blocks_0_x_block_attn_qkv.lora_up.weight'] = f32([ups[0].shape[0] * 3, ups[0].shape[1]], qkvUp);
    const renamed: [string, string][] = [
      ['transformer_blocks.0.attn.to_out.0', 'joint_blocks_0_x_block_attn_proj'],
      ['pos_embed.proj', 'x_embedder_proj'],
      ['time_text_embed.timestep_embedder.linear_1', 't_embedder_mlp_0'],
      ['time_text_embed.text_embedder.linear_2', 'y_embedder_mlp_2'],
      ['context_embedder', 'context_embedder'],
      ['proj_out', 'final_layer_linear'],
    ];
    for (const [m, s] of renamed) {
      for (const [ab, kohyaRole] of [
        ['A', 'lora_down'],
        ['B', 'lora_up'],
      ] as const) {
        const x = get(m, ab);
        diffusers[`transformer.${m}.lora_${ab}.weight`] = f32(x.shape, x.data);
        sai[`lora_unet_${s}.${kohyaRole}.weight`] = f32(x.shape, x.data);
      }
    }
    for (const s of Object.keys(sai)) if (s.endsWith('.lora_down.weight')) sai[s.replace('.lora_down.weight', '.alpha')] = f32([], Float32Array.of(2));
    // The tiny transformer has no context-stream attention: those modules are reported, not applied.
    sai['lora_unet_joint_blocks_0_context_block_attn_qkv.lora_down.weight'] = f32(shared.shape, shared.data);
    sai['lora_unet_joint_blocks_0_context_block_attn_qkv.lora_up.weight'] = f32([ups[0].shape[0] * 3, ups[0].shape[1]], qkvUp);
    // T5 (text_encoder_3) parts are not merged: reported as unmatched.
    sai['lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight'] = f32([4, 8], new Float32Array(32));
    const diffusersPath = join(tmp, 'sd3-diffusers.safetensors');
    const saiPath = join(tmp, 'sd3-sai.safetensors');
    writeFileSync(diffusersPath, encodeSafetensors(diffusers, { lora_alpha: '2' }));
    writeFileSync(saiPath, encodeSafetensors(sai));

    const pipe = await loadPipeline(model, { loras: [{ name: 'sai', path: saiPath, weight: 1 }] });
    try {
      assert.equal(pipe.loras[0].matched, 9);
      assert.deepEqual(pipe.loras[0].unmatched, [
        'lora_unet_joint_blocks_0_context_block_attn_qkv (transformer_blocks.0.attn.add_q_proj)',
        'lora_unet_joint_blocks_0_context_block_attn_qkv (transformer_blocks.0.attn.add_k_proj)',
        'lora_unet_joint_blocks_0_context_block_attn_qkv (transformer_blocks.0.attn.add_v_proj)',
        'lora_te3_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight',
      ]);
      const got = await sharp((await pipe.generate(request)).images[0].png)
        .raw()
        .toBuffer();
      assert.ok(got.equals(await pixels(model, [{ name: 'd', path: diffusersPath, weight: 1 }])), 'SAI names = diffusers names');
      assert.ok(!got.equals(await pixels(model)));
    } finally {
      await pipe.dispose();
    }
  });

  it("swaps AdaLayerNormContinuous's shift and scale halves (final layer, the last block's context norm)", () => {
    const up = Float32Array.from({ length: 8 }, (_, i) => i); // [4, 2]: rows 0-1 shift, 2-3 scale
    const down = new Float32Array(4); // [2, 2]
    const file = (names: string[]) => {
      const tensors: Tensors = {};
      for (const n of names) {
        tensors[`lora_unet_${n}.lora_down.weight`] = f32([2, 2], down);
        tensors[`lora_unet_${n}.lora_up.weight`] = f32([4, 2], up);
      }
      return loraFromSafetensors(parseSafetensors(encodeSafetensors(tensors), 'x'), 'x.safetensors');
    };
    const lora = file(['final_layer_adaLN_modulation_1', 'joint_blocks_1_context_block_adaLN_modulation_1', 'joint_blocks_1_x_block_adaLN_modulation_1']);
    const rows = (key: string) => {
      const m = lora.modules.find((x) => x.key === key);
      assert.ok(m, key);
      return Array.from(new Float32Array(new Uint8Array(m.up.bytes).buffer));
    };
    assert.deepEqual(rows('norm_out_linear'), [4, 5, 6, 7, 0, 1, 2, 3]);
    // 4 outputs from 2 inputs: two chunks, the pre-only (continuous) norm.
    assert.deepEqual(rows('transformer_blocks_1_norm1_context_linear'), [4, 5, 6, 7, 0, 1, 2, 3]);
    assert.deepEqual(rows('transformer_blocks_1_norm1_linear'), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(lora.modules.every((m) => m.part === 'transformer'));
  });

  it('an SD 1.5 LoRA on SD3, and an SD3 LoRA on SD 1.5, are refused naming the family', async () => {
    const sd = await tinyModel({ exportNames: true }, 'export-names');
    const sdLora = join(tmp, 'sd15.safetensors');
    await createTinyLora(sdLora, { model: sd });
    await assert.rejects(loadPipeline(model, { loras: [{ name: 'sd15', path: sdLora, weight: 1 }] }), (err: Error) => {
      assert.match(
        err.message,
        /LoRA "sd15" \(sd15\.safetensors\) matched none of model sd3-export-names-\w+'s .*a UNet LoRA for SD 1\.x\/SDXL; this model is Stable Diffusion 3/,
      );
      return true;
    });
    await assert.rejects(
      loadPipeline(sd, { loras: [{ name: 'sd3', path: peft, weight: 1 }] }),
      /a transformer LoRA for Stable Diffusion 3; this model has a UNet/,
    );
  });
});

// Renames a tiny model's weights and nodes the way torch.onnx.export names a real one, so the
// LoRA mapping is tested on what exports really look like: a Conv keeps its module's weight
// name (`conv_in.weight`), a Linear's MatMul weight becomes anonymous (`onnx::MatMul_12`), and
// every node carries its module scope (`/mid_block/attentions.0/…/to_q/MatMul`).
import onnxProto from 'onnx-proto';
import type { EncodedModel } from '../onnx/builder.js';

const { onnx } = onnxProto;

/** Tiny layer name → real module path, for the tiny UNet (unet.ts). */
export const UNET_MODULES: Record<string, string> = {
  conv_in: 'conv_in',
  time_1: 'time_embedding.linear_1',
  time_2: 'time_embedding.linear_2',
  to_q: 'mid_block.attentions.0.transformer_blocks.0.attn2.to_q',
  to_k: 'mid_block.attentions.0.transformer_blocks.0.attn2.to_k',
  to_v: 'mid_block.attentions.0.transformer_blocks.0.attn2.to_v',
  to_out: 'mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0',
  conv_out: 'conv_out',
};

/**
 * Tiny layer name → diffusers' SD3Transformer2DModel module path, for the tiny SD3 transformer
 * (sd3-transformer.ts): its one joint block's image-stream attention, the embedders, proj_out.
 */
export const SD3_TRANSFORMER_MODULES: Record<string, string> = {
  patch_embed: 'pos_embed.proj',
  time_1: 'time_text_embed.timestep_embedder.linear_1',
  time_2: 'time_text_embed.timestep_embedder.linear_2',
  text_1: 'time_text_embed.text_embedder.linear_1',
  text_2: 'time_text_embed.text_embedder.linear_2',
  context_embedder: 'context_embedder',
  to_q: 'transformer_blocks.0.attn.to_q',
  to_k: 'transformer_blocks.0.attn.to_k',
  to_v: 'transformer_blocks.0.attn.to_v',
  to_out: 'transformer_blocks.0.attn.to_out.0',
  proj_out: 'proj_out',
};

/** Tiny layer name → module path for the tiny text encoders (text-encoder.ts), layers 0–7. */
export function textEncoderModules(): Record<string, string> {
  const out: Record<string, string> = { text_projection: 'text_projection' };
  for (let layer = 0; layer < 8; layer++) {
    const n = (name: string) => (layer === 0 ? name : `${name}_${layer}`);
    const base = `text_model.encoder.layers.${layer}`;
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) out[n(p)] = `${base}.self_attn.${p}`;
    out[n('fc1')] = `${base}.mlp.fc1`;
    out[n('fc2')] = `${base}.mlp.fc2`;
  }
  return out;
}

/** The embedding table's name in transformers' CLIPTextModel. */
export const TOKEN_EMBEDDING = 'text_model.embeddings.token_embedding.weight';

/** `a.b.0.c` → `/a/b.0/c`: torch's scope, list indices stay with their list. */
function scope(module: string): string {
  const segs: string[] = [];
  for (const s of module.split('.')) {
    if (/^\d+$/.test(s) && segs.length > 0) segs[segs.length - 1] += `.${s}`;
    else segs.push(s);
  }
  return `/${segs.join('/')}`;
}

export function withTorchExportNames(encoded: EncodedModel, modules: Record<string, string>): EncodedModel {
  const model = onnx.ModelProto.decode(encoded.model);
  const graph = model.graph;
  if (!graph) return encoded;
  const nodes = graph.node ?? [];
  const consumers = (value: string) => nodes.filter((n) => (n.input ?? []).includes(value));
  // The compute nodes reading an initializer, through the float16 Cast the builder inserts.
  const users = (value: string) => consumers(value).flatMap((n) => (n.opType === 'Cast' ? consumers(n.output?.[0] ?? '') : [n]));
  const renames = new Map<string, string>();
  let anonymous = 0;
  for (const t of graph.initializer ?? []) {
    const m = /^(.+)_([wb])_\d+$/.exec(t.name ?? '');
    if (t.name === undefined || t.name === null) continue;
    if (/^token_embedding_\d+$/.test(t.name)) {
      renames.set(t.name, TOKEN_EMBEDDING);
      continue;
    }
    const module = m ? modules[m[1]] : undefined;
    if (!m || !module) continue;
    const used = users(t.name);
    const op = used[0]?.opType ?? '';
    if (m[2] === 'w') {
      renames.set(t.name, op === 'Conv' ? `${module}.weight` : `onnx::${op}_${anonymous++}`);
      for (const n of used) n.name = `${scope(module)}/${n.opType}`;
    } else {
      renames.set(t.name, `${module}.bias`);
      for (const n of used) if (n.opType === 'Add') n.name = `${scope(module)}/Add`;
    }
  }
  for (const t of graph.initializer ?? []) if (t.name && renames.has(t.name)) t.name = renames.get(t.name);
  for (const n of nodes) n.input = (n.input ?? []).map((i) => renames.get(i) ?? i);
  return { model: onnx.ModelProto.encode(model).finish(), externalData: encoded.externalData };
}

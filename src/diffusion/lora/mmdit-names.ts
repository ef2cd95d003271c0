// SD3 LoRAs trained with kohya's sd-scripts name Stability AI's original MMDiT modules
// (`lora_unet_joint_blocks_0_x_block_attn_qkv`), while ONNX exports of diffusers'
// SD3Transformer2DModel carry diffusers' module scopes (`/transformer_blocks.0/attn/to_q/MatMul`).
// This maps one to the other as diffusers' SD3 checkpoint conversion does: a fused qkv is three
// modules (rows of the up matrix, the down matrix shared), and the AdaLayerNormContinuous
// linears (final layer, last block's context norm) store shift and scale the other way round.

/** What one SAI module becomes: diffusers module paths, the up matrix split into equal row chunks across them. */
export interface MmditMapping {
  modules: string[];
  /** AdaLayerNormContinuous: SAI writes [shift; scale], diffusers [scale; shift]. */
  swapHalves: 'always' | 'when-two-chunks' | 'never';
}

const BLOCK_PARTS: Record<string, { x: string[]; context?: string[] }> = {
  attn_qkv: { x: ['attn.to_q', 'attn.to_k', 'attn.to_v'], context: ['attn.add_q_proj', 'attn.add_k_proj', 'attn.add_v_proj'] },
  attn_proj: { x: ['attn.to_out.0'], context: ['attn.to_add_out'] },
  // SD3.5 Medium's second image self-attention (MMDiT-X).
  attn2_qkv: { x: ['attn2.to_q', 'attn2.to_k', 'attn2.to_v'] },
  attn2_proj: { x: ['attn2.to_out.0'] },
  mlp_fc1: { x: ['ff.net.0.proj'], context: ['ff_context.net.0.proj'] },
  mlp_fc2: { x: ['ff.net.2'], context: ['ff_context.net.2'] },
  adaln_modulation_1: { x: ['norm1.linear'], context: ['norm1_context.linear'] },
};

const TOP_LEVEL: Record<string, string> = {
  x_embedder_proj: 'pos_embed.proj',
  context_embedder: 'context_embedder',
  t_embedder_mlp_0: 'time_text_embed.timestep_embedder.linear_1',
  t_embedder_mlp_2: 'time_text_embed.timestep_embedder.linear_2',
  y_embedder_mlp_0: 'time_text_embed.text_embedder.linear_1',
  y_embedder_mlp_2: 'time_text_embed.text_embedder.linear_2',
  final_layer_linear: 'proj_out',
};

/**
 * `joint_blocks_3_context_block_attn_qkv` (kohya's spelling, after `lora_unet_`) → diffusers
 * modules, or undefined when the name is not an MMDiT module (an SD 1.x/SDXL UNet's, say).
 */
export function mmditModules(key: string): MmditMapping | undefined {
  const k = key.toLowerCase();
  if (k === 'final_layer_adaln_modulation_1') return { modules: ['norm_out.linear'], swapHalves: 'always' };
  const top = TOP_LEVEL[k];
  if (top) return { modules: [top], swapHalves: 'never' };
  const m = /^joint_blocks_(\d+)_(x_block|context_block)_(.+)$/.exec(k);
  const part = m ? BLOCK_PARTS[m[3]] : undefined;
  if (!m || !part) return undefined;
  const names = m[2] === 'x_block' ? part.x : part.context;
  if (!names) return undefined;
  // The last block's context stream is pre-only: its norm is AdaLayerNormContinuous (2 chunks, not 6).
  const swapHalves = m[2] === 'context_block' && m[3] === 'adaln_modulation_1' ? 'when-two-chunks' : 'never';
  return { modules: names.map((n) => `transformer_blocks.${m[1]}.${n}`), swapHalves };
}

/**
 * Diffusers' SD3 transformer paths, dotted or in kohya's `_` spelling: PEFT files without a
 * `transformer.` prefix and kohya-style files on diffusers names (`lora_unet_transformer_blocks_0_…`)
 * start with these; no SD 1.x/SDXL UNet module does.
 */
export function isSd3TransformerPath(path: string): boolean {
  return /^(transformer_blocks[._]\d+[._]|pos_embed[._]|context_embedder|time_text_embed[._]|norm_out[._]|proj_out)/.test(path);
}

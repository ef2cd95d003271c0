// Prompt → SD3's transformer conditioning, as diffusers' StableDiffusion3Pipeline.encode_prompt:
// - CLIP-L (text_encoder) and CLIP-G (text_encoder_2): each one's penultimate hidden state
//   (hidden_states[-2], clip_skip None) [77, 768] and [77, 1280], concatenated on the channel
//   axis and zero-padded to T5's width (4096): [77, 4096];
// - T5 (text_encoder_3): last_hidden_state of the prompt padded to max_sequence_length (256)
//   [256, 4096]; without text_encoder_3, zeros of that shape (diffusers' _get_t5_prompt_embeds
//   returns zeros [max_sequence_length, joint_attention_dim]; releases before 0.36 used 77 rows);
// - prompt_embeds = [CLIP rows; T5 rows] on the sequence axis: [77 + 256, 4096];
// - pooled_prompt_embeds = both CLIPs' projected text_embeds concatenated: [768 + 1280].
// With guidance, the negative prompt goes through the same path; a missing one is "" (SD3 has
// no force_zeros_for_empty_prompt).
import * as ort from 'onnxruntime-node';
import { ModelError } from '../errors.js';
import type { PromptEmbedding, PromptPair, RunTextEncoder } from '../prompt-encoding.js';
import { concatFeatures, penultimateOutput } from '../prompt-encoding.js';
import { requireInput, requireOutput, type LoadedSession } from '../sessions.js';
import type { T5Tokenizer } from '../t5/tokenizer.js';
import { tensorToFloat32 } from '../tensors.js';
import type { ClipTokenizer } from '../tokenizer.js';

/** diffusers' max_sequence_length default for SD3's T5 prompt. */
export const SD3_MAX_SEQUENCE_LENGTH = 256;

export interface Sd3ClipEncoder {
  part: 'text_encoder' | 'text_encoder_2';
  tokenizer: ClipTokenizer;
  session: LoadedSession;
  /** num_hidden_layers from its config.json; without it, the highest hidden_states.N is the last layer. */
  layers?: number;
}

export interface Sd3T5Encoder {
  tokenizer: T5Tokenizer;
  session: LoadedSession;
}

export interface Sd3PromptOptions {
  /** The transformer's encoder_hidden_states width (joint_attention_dim): T5's width, and the zeros' without T5. */
  jointDim: number;
  /** T5 tokens (default 256). */
  maxSequenceLength?: number;
  run: RunTextEncoder;
}

interface PreparedClip extends Sd3ClipEncoder {
  hiddenOutput: string;
  pooledOutput: string;
}

function idsTensor(meta: ort.InferenceSession.TensorValueMetadata, ids: ArrayLike<number>): ort.Tensor {
  const dims = [1, ids.length];
  return meta.type === 'int64'
    ? new ort.Tensor(
        'int64',
        BigInt64Array.from(Array.from(ids), (x) => BigInt(x)),
        dims,
      )
    : new ort.Tensor('int32', Int32Array.from(Array.from(ids)), dims);
}

export class Sd3PromptEncoder {
  private readonly clips: [PreparedClip, PreparedClip];
  private readonly t5Output?: string;
  readonly maxSequenceLength: number;

  /** Checks every graph's inputs and outputs now, so a wrong export fails at load time with the fix. */
  constructor(
    clips: [Sd3ClipEncoder, Sd3ClipEncoder],
    private readonly t5: Sd3T5Encoder | undefined,
    private readonly options: Sd3PromptOptions,
  ) {
    this.clips = clips.map((te) => {
      requireInput(te.session, te.part, ['input_ids']);
      return { ...te, hiddenOutput: penultimateOutput(te, 'SD3'), pooledOutput: requireOutput(te.session, te.part, ['text_embeds']) };
    }) as [PreparedClip, PreparedClip];
    this.maxSequenceLength = options.maxSequenceLength ?? SD3_MAX_SEQUENCE_LENGTH;
    if (t5) {
      requireInput(t5.session, 'text_encoder_3', ['input_ids']);
      this.t5Output = requireOutput(t5.session, 'text_encoder_3', ['last_hidden_state']);
    }
  }

  /** Always true: SD3's transformer takes pooled_projections. */
  get pooled(): boolean {
    return true;
  }

  /** Whether T5 runs (false: zeros in its place). */
  get hasT5(): boolean {
    return this.t5 !== undefined;
  }

  async encodePair(prompt: string, negativePrompt: string | undefined, guided: boolean): Promise<PromptPair> {
    const cond = await this.encode(prompt);
    if (!guided) return { cond };
    return { cond, uncond: await this.encode(negativePrompt ?? '') };
  }

  async encode(text: string): Promise<PromptEmbedding> {
    const width = this.options.jointDim;
    let truncated = 0;
    const clipParts: { hidden: Float32Array; dim: number }[] = [];
    const pooledParts: Float32Array[] = [];
    let clipLen = 0;
    for (const te of this.clips) {
      const { ids, truncatedTokens } = te.tokenizer.encodeWithInfo(text);
      truncated = Math.max(truncated, truncatedTokens);
      const meta = requireInput(te.session, te.part, ['input_ids']);
      const out = await this.options.run(te.session, { [meta.name]: idsTensor(meta, ids) }, [te.hiddenOutput, te.pooledOutput]);
      const hidden = out[te.hiddenOutput] as ort.Tensor;
      if (clipLen !== 0 && hidden.dims[1] !== clipLen) {
        throw new ModelError(`${te.part} gives ${hidden.dims[1]} positions where text_encoder gives ${clipLen}; the tokenizers do not match.`);
      }
      clipLen = hidden.dims[1];
      clipParts.push({ hidden: tensorToFloat32(hidden), dim: hidden.dims[2] });
      pooledParts.push(tensorToFloat32(out[te.pooledOutput] as ort.Tensor));
    }
    const clipWidth = clipParts[0].dim + clipParts[1].dim;
    if (clipWidth > width) {
      throw new ModelError(
        `text_encoder and text_encoder_2 give ${clipWidth} channels together, wider than the transformer's ${width}; the parts come from different models.`,
      );
    }

    let t5Rows = this.maxSequenceLength;
    let t5Hidden: Float32Array | undefined;
    if (this.t5 && this.t5Output) {
      const meta = requireInput(this.t5.session, 'text_encoder_3', ['input_ids']);
      const { ids, truncatedTokens } = this.t5.tokenizer.encodeWithLength(text, this.maxSequenceLength);
      // With T5 the prompt's tail past CLIP's 77 tokens still conditions the picture: what is lost is what T5 cut.
      truncated = truncatedTokens;
      const out = await this.options.run(this.t5.session, { [meta.name]: idsTensor(meta, ids) }, [this.t5Output]);
      const state = out[this.t5Output] as ort.Tensor;
      if (state.dims[2] !== width) {
        throw new ModelError(`text_encoder_3 gives ${state.dims[2]} channels but the transformer takes ${width}; the parts come from different models.`);
      }
      t5Rows = state.dims[1];
      t5Hidden = tensorToFloat32(state);
    }

    // [CLIP-L | CLIP-G | zeros] for the 77 CLIP rows, then T5's rows (zeros without T5).
    const seqLen = clipLen + t5Rows;
    const hidden = concatFeatures(clipParts, clipLen, { out: new Float32Array(seqLen * width), width });
    if (t5Hidden) hidden.set(t5Hidden, clipLen * width);
    const pooled = new Float32Array(pooledParts[0].length + pooledParts[1].length);
    pooled.set(pooledParts[0]);
    pooled.set(pooledParts[1], pooledParts[0].length);
    return { hidden, seqLen, dim: width, pooled, truncated };
  }
}

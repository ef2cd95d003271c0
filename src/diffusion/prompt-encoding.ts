// Prompt → the UNet's text conditioning, as diffusers' encode_prompt does it per family.
// SD 1.x / 2.x: text_encoder's last_hidden_state.
// SDXL (StableDiffusionXLPipeline.encode_prompt): each encoder's penultimate hidden state
// (hidden_states[-2]) concatenated on the feature axis, [77, 768 + 1280]; the pooled embedding
// is text_encoder_2's projected text_embeds. With guidance and no negative prompt, a model
// with force_zeros_for_empty_prompt gets zeros for the unconditional side instead of the
// encoded "".
import * as ort from 'onnxruntime-node';
import { ModelError } from './errors.js';
import type { ModelInfo } from './model-inspect.js';
import { createSession, firstLine, requireInput, requireOutput, type Device, type LoadedSession, type ModelSource } from './sessions.js';
import { tensorToFloat32 } from './tensors.js';
import { ClipTokenizer } from './tokenizer.js';

export interface TextEncoderPart {
  part: 'text_encoder' | 'text_encoder_2';
  tokenizer: ClipTokenizer;
  session: LoadedSession;
  /** num_hidden_layers from its config.json; without it, the highest hidden_states.N is the last layer. */
  layers?: number;
}

/** One prompt's conditioning: hidden [seqLen, dim] and, for SDXL, pooled [pooledDim]. */
export interface PromptEmbedding {
  hidden: Float32Array;
  seqLen: number;
  dim: number;
  pooled?: Float32Array;
  /** Prompt tokens cut off by the 77-token window. */
  truncated: number;
}

export interface PromptPair {
  cond: PromptEmbedding;
  /** Present when guidance batches an unconditional half. */
  uncond?: PromptEmbedding;
}

/** Runs one text encoder (the pipeline's runner, which also counts and times the call). */
export type RunTextEncoder = (
  session: LoadedSession,
  feeds: Record<string, ort.Tensor>,
  fetches: readonly string[],
) => Promise<ort.InferenceSession.ReturnType>;

/** SDXL's tokenizer_2 and text_encoder_2; undefined for models with one text encoder. */
export async function loadSecondTextEncoder(
  model: Pick<ModelInfo, 'files' | 'tokenizer2Dir'>,
  device: Device,
  keep: { releaseWhenIdle?: boolean } = {},
  /** The encoder's model when not its file (a LoRA merge in memory). */
  source?: ModelSource,
): Promise<{ tokenizer: ClipTokenizer; session: LoadedSession } | undefined> {
  const dir = model.tokenizer2Dir;
  if (!model.files.textEncoder2 || !dir) return undefined;
  const tokenizer = await ClipTokenizer.fromDir(dir).catch((err: unknown) => {
    throw new ModelError(`Tokenizer files in ${dir} cannot be read: ${firstLine(err)}`);
  });
  return { tokenizer, session: await createSession(source ?? model.files.textEncoder2, device, 'text_encoder_2', keep) };
}

const HIDDEN_STATE = /^hidden_states\.(\d+)$/;

/** The output holding hidden_states[-2]: layer n − 1 of n (hidden_states.0 is the embeddings). */
export function penultimateOutput(te: Pick<TextEncoderPart, 'part' | 'session' | 'layers'>, family = 'SDXL'): string {
  const indices = [...te.session.outputs.keys()].flatMap((n) => {
    const m = HIDDEN_STATE.exec(n);
    return m ? [Number(m[1])] : [];
  });
  const layers = te.layers ?? (indices.length > 0 ? Math.max(...indices) : 0);
  const name = `hidden_states.${layers - 1}`;
  if (layers < 1 || !te.session.outputs.has(name)) {
    throw new ModelError(
      `${te.part} has outputs [${[...te.session.outputs.keys()].join(', ')}] but ${family} needs its penultimate layer (${name}). ` +
        `Re-export the model with optimum-cli export onnx, which adds the hidden_states outputs for ${family}.`,
    );
  }
  return name;
}

interface PreparedEncoder extends TextEncoderPart {
  hiddenOutput: string;
  pooledOutput?: string;
}

export class PromptEncoder {
  private readonly encoders: PreparedEncoder[];

  /**
   * `encoders`: [text_encoder] for SD 1.x / 2.x, [text_encoder, text_encoder_2] for SDXL.
   * Checks the graphs' outputs now, so a wrong export fails at load time with the fix.
   */
  constructor(
    encoders: TextEncoderPart[],
    private readonly options: { forceZerosForEmptyPrompt: boolean; run: RunTextEncoder },
  ) {
    const sdxl = encoders.length > 1;
    this.encoders = encoders.map((te, i) => {
      requireInput(te.session, te.part, ['input_ids']);
      if (!sdxl) return { ...te, hiddenOutput: requireOutput(te.session, te.part, ['last_hidden_state', 'hidden_states']) };
      // Only the last encoder's pooled output is used, as in diffusers.
      const last = i === encoders.length - 1;
      return { ...te, hiddenOutput: penultimateOutput(te), pooledOutput: last ? requireOutput(te.session, te.part, ['text_embeds']) : undefined };
    });
  }

  /** True for SDXL: a pooled embedding comes with every prompt. */
  get pooled(): boolean {
    return this.encoders.some((e) => e.pooledOutput !== undefined);
  }

  /**
   * The prompt, and with guidance the negative prompt (or zeros where the model asks for them).
   * Both prompts go through each encoder in one batch-of-two call where its graph takes a
   * batch: row for row the same numbers as two calls (test/diffusion/prompt-encoding.test.ts),
   * for one call's overhead.
   */
  async encodePair(prompt: string, negativePrompt: string | undefined, guided: boolean): Promise<PromptPair> {
    if (!guided) return { cond: await this.encode(prompt) };
    // diffusers zeroes only a missing negative prompt; an empty one means the same here.
    if (!negativePrompt && this.options.forceZerosForEmptyPrompt) {
      const cond = await this.encode(prompt);
      return {
        cond,
        uncond: { ...cond, hidden: new Float32Array(cond.hidden.length), pooled: cond.pooled && new Float32Array(cond.pooled.length), truncated: 0 },
      };
    }
    const [cond, uncond] = await this.encodeAll([prompt, negativePrompt ?? '']);
    return { cond, uncond };
  }

  async encode(text: string): Promise<PromptEmbedding> {
    return (await this.encodeAll([text]))[0];
  }

  /** Each text's embedding, in order; one call per encoder for all of them when it takes a batch. */
  async encodeAll(texts: readonly string[]): Promise<PromptEmbedding[]> {
    const perText = texts.map(() => ({ parts: [] as { hidden: Float32Array; dim: number }[], truncated: 0, pooled: undefined as Float32Array | undefined }));
    let seqLen = 0;
    for (const te of this.encoders) {
      const meta = requireInput(te.session, te.part, ['input_ids']);
      const tokens = texts.map((text) => te.tokenizer.encodeWithInfo(text));
      // A graph exported with batch 1 fixed gets one call per text (so would unequal lengths,
      // which the padding tokenizer never gives).
      const batched = meta.shape[0] !== 1 && tokens.every((e) => e.ids.length === tokens[0].ids.length);
      const groups = batched ? [texts.map((_, i) => i)] : texts.map((_, i) => [i]);
      for (const group of groups) {
        const encoded = group.map((i) => tokens[i]);
        const len = encoded[0].ids.length;
        const ids = encoded.flatMap((e) => e.ids);
        const dims = [group.length, len];
        const tensor =
          meta.type === 'int64'
            ? new ort.Tensor(
                'int64',
                BigInt64Array.from(ids, (x) => BigInt(x)),
                dims,
              )
            : new ort.Tensor('int32', Int32Array.from(ids), dims);
        // Only the outputs used: an SDXL encoder returns every layer's hidden states otherwise.
        const fetches = te.pooledOutput ? [te.hiddenOutput, te.pooledOutput] : [te.hiddenOutput];
        const out = await this.options.run(te.session, { [meta.name]: tensor }, fetches);
        const hidden = out[te.hiddenOutput] as ort.Tensor;
        if (seqLen !== 0 && hidden.dims[1] !== seqLen) {
          throw new ModelError(`${te.part} gives ${hidden.dims[1]} positions where text_encoder gives ${seqLen}; the tokenizers do not match.`);
        }
        seqLen = hidden.dims[1];
        const dim = hidden.dims[2];
        const hiddenRows = tensorToFloat32(hidden);
        const pooledRows = te.pooledOutput ? tensorToFloat32(out[te.pooledOutput] as ort.Tensor) : undefined;
        group.forEach((textIndex, row) => {
          const t = perText[textIndex];
          t.truncated = Math.max(t.truncated, encoded[row].truncatedTokens);
          const rowSize = seqLen * dim;
          t.parts.push({ hidden: hiddenRows.subarray(row * rowSize, (row + 1) * rowSize), dim });
          if (pooledRows) {
            const size = pooledRows.length / group.length;
            t.pooled = pooledRows.subarray(row * size, (row + 1) * size);
          }
        });
      }
    }
    return perText.map((t) => ({
      hidden: concatFeatures(t.parts, seqLen),
      seqLen,
      dim: t.parts.reduce((sum, p) => sum + p.dim, 0),
      pooled: t.pooled,
      truncated: t.truncated,
    }));
  }
}

/**
 * [seqLen, a] ‖ [seqLen, b] → [seqLen, a + b], like torch.concat(..., dim=-1). Into `out`'s first
 * seqLen rows of `width` when given (SD3 pads CLIP's rows with zeros to T5's width).
 */
export function concatFeatures(parts: { hidden: Float32Array; dim: number }[], seqLen: number, into?: { out: Float32Array; width: number }): Float32Array {
  if (parts.length === 1 && !into) return parts[0].hidden;
  const width = into?.width ?? parts.reduce((s, p) => s + p.dim, 0);
  const out = into?.out ?? new Float32Array(seqLen * width);
  for (let pos = 0; pos < seqLen; pos++) {
    let offset = pos * width;
    for (const p of parts) {
      out.set(p.hidden.subarray(pos * p.dim, (pos + 1) * p.dim), offset);
      offset += p.dim;
    }
  }
  return out;
}

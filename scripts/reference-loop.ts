// A plain text-to-image loop, written from diffusers' StableDiffusionPipeline.__call__ in its
// order (tokenize, encode prompt and negative prompt, initial noise, per step: duplicate the
// latents for the CFG batch, scale_model_input, UNet, chunk + guidance, EulerDiscreteScheduler
// .step; then VAE decode and numpy_to_pil), as a straightforward port would: one plain loop and
// one fresh array per torch operation, float32 storage, no fusing, no buffer reuse. The bench
// (scripts/bench-ratio.ts) runs it on the pipeline's own three ORT sessions, so ORT time is the
// same on both sides and the ratio measures the engine's JavaScript.
import * as ort from 'onnxruntime-node';
import type { ClipTokenizer } from '../src/diffusion/tokenizer.js';
import { TorchGenerator } from '../src/diffusion/rng.js';

export interface ReferenceSessions {
  tokenizer: ClipTokenizer;
  textEncoder: ort.InferenceSession;
  unet: ort.InferenceSession;
  vaeDecoder: ort.InferenceSession;
}

export interface ReferenceRequest {
  prompt: string;
  negativePrompt: string;
  seed: number;
  guidanceScale: number;
  width: number;
  height: number;
  count: number;
  steps: number;
  /**
   * EulerDiscreteScheduler.set_timesteps: timesteps, their sigmas then the final 0, and
   * init_noise_sigma. Called once per image as diffusers does; the bench passes the engine's
   * implementation of this table (not of the per-step maths, which is written out below).
   */
  setTimesteps: (steps: number) => { timesteps: number[]; sigmas: Float32Array; initNoiseSigma: number };
  vaeScalingFactor: number;
}

// The straightforward float32 → float16 a port writes (round to nearest even), and back.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}
function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function inputType(session: ort.InferenceSession, name: string): string {
  const meta = session.inputMetadata.find((m) => m.name === name);
  return meta?.isTensor ? meta.type : 'float32';
}

function floatTensor(type: string, data: Float32Array, dims: number[]): ort.Tensor {
  if (type !== 'float16') return new ort.Tensor('float32', data, dims);
  const bits = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) bits[i] = toHalf(data[i]);
  return new ort.Tensor('float16', bits, dims);
}

function toFloat32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  const bits = t.data as Uint16Array;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = fromHalf(bits[i]);
  return out;
}

async function encodePrompt(s: ReferenceSessions, text: string): Promise<Float32Array> {
  const ids = s.tokenizer.encode(text);
  const name = s.textEncoder.inputNames[0];
  const tensor =
    inputType(s.textEncoder, name) === 'int64'
      ? new ort.Tensor(
          'int64',
          BigInt64Array.from(ids, (x) => BigInt(x)),
          [1, ids.length],
        )
      : new ort.Tensor('int32', Int32Array.from(ids), [1, ids.length]);
  const out = await s.textEncoder.run({ [name]: tensor });
  return toFloat32(out[s.textEncoder.outputNames[0]] as ort.Tensor);
}

function timestepTensor(session: ort.InferenceSession, t: number, batch: number): ort.Tensor {
  const meta = session.inputMetadata.find((m) => m.name === 'timestep');
  const shape = meta?.isTensor ? meta.shape : [batch];
  const dims = shape.length === 0 ? [] : [shape[0] === 1 ? 1 : batch];
  const n = dims.length === 0 ? 1 : dims[0];
  const type = meta?.isTensor ? meta.type : 'int64';
  if (type === 'int64') return new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.trunc(t))), dims);
  return floatTensor(type, new Float32Array(n).fill(t), dims);
}

/** Packed RGB bytes per image. */
export async function referenceTextToImage(s: ReferenceSessions, req: ReferenceRequest): Promise<Uint8Array[]> {
  const { count, width, height } = req;
  const lh = height / 8;
  const lw = width / 8;
  const latentSize = 4 * lh * lw;

  // 1. encode_prompt: prompt_embeds = cat([negative_prompt_embeds, prompt_embeds]), each repeated count times.
  const cond = await encodePrompt(s, req.prompt);
  const uncond = await encodePrompt(s, req.negativePrompt);
  const embedSize = cond.length;
  const promptEmbeds = new Float32Array(2 * count * embedSize);
  for (let i = 0; i < count; i++) {
    promptEmbeds.set(uncond, i * embedSize);
    promptEmbeds.set(cond, (count + i) * embedSize);
  }
  const seqLen = 77;
  const hiddenType = inputType(s.unet, 'encoder_hidden_states');
  const hidden = floatTensor(hiddenType, promptEmbeds, [2 * count, seqLen, embedSize / seqLen]);

  const { timesteps, sigmas, initNoiseSigma } = req.setTimesteps(req.steps);

  // 2. prepare_latents: randn per image generator, times init_noise_sigma.
  let latents = new Float32Array(count * latentSize);
  for (let i = 0; i < count; i++) latents.set(new TorchGenerator(BigInt(req.seed + i)).randn(latentSize), i * latentSize);
  const noised = new Float32Array(latents.length);
  for (let k = 0; k < latents.length; k++) noised[k] = latents[k] * initNoiseSigma;
  latents = noised;

  // 3. denoising loop.
  const sampleType = inputType(s.unet, 'sample');
  const outName = s.unet.outputNames[0];
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    const sigma = sigmas[i];
    // latent_model_input = torch.cat([latents] * 2)
    const doubled = new Float32Array(2 * latents.length);
    doubled.set(latents, 0);
    doubled.set(latents, latents.length);
    // scheduler.scale_model_input: sample / ((sigma**2 + 1) ** 0.5)
    const scaled = new Float32Array(doubled.length);
    const denom = Math.fround(Math.sqrt(sigma * sigma + 1));
    for (let k = 0; k < doubled.length; k++) scaled[k] = doubled[k] / denom;
    const out = await s.unet.run({
      sample: floatTensor(sampleType, scaled, [2 * count, 4, lh, lw]),
      timestep: timestepTensor(s.unet, t, 2 * count),
      encoder_hidden_states: hidden,
    });
    const noisePredBoth = toFloat32(out[outName] as ort.Tensor);
    // noise_pred_uncond, noise_pred_text = noise_pred.chunk(2)
    const noiseUncond = noisePredBoth.slice(0, latents.length);
    const noiseText = noisePredBoth.slice(latents.length);
    // noise_pred = uncond + guidance_scale * (text - uncond)
    const diff = new Float32Array(latents.length);
    for (let k = 0; k < diff.length; k++) diff[k] = noiseText[k] - noiseUncond[k];
    const noisePred = new Float32Array(latents.length);
    for (let k = 0; k < diff.length; k++) noisePred[k] = noiseUncond[k] + req.guidanceScale * diff[k];
    // EulerDiscreteScheduler.step (epsilon): x0 = sample - sigma * eps; d = (sample - x0) / sigma;
    // prev = sample + d * (sigma_next - sigma)
    const predOriginal = new Float32Array(latents.length);
    for (let k = 0; k < latents.length; k++) predOriginal[k] = latents[k] - sigma * noisePred[k];
    const derivative = new Float32Array(latents.length);
    for (let k = 0; k < latents.length; k++) derivative[k] = (latents[k] - predOriginal[k]) / sigma;
    const dt = sigmas[i + 1] - sigma;
    const prev = new Float32Array(latents.length);
    for (let k = 0; k < latents.length; k++) prev[k] = latents[k] + derivative[k] * dt;
    latents = prev;
  }

  // 4. decode: latents / scaling_factor, one image at a time (the ONNX pipeline's VAE loop).
  const images: Uint8Array[] = [];
  const vaeIn = s.vaeDecoder.inputNames[0];
  const vaeType = inputType(s.vaeDecoder, vaeIn);
  const unscaled = new Float32Array(latents.length);
  for (let k = 0; k < latents.length; k++) unscaled[k] = latents[k] / req.vaeScalingFactor;
  for (let i = 0; i < count; i++) {
    const one = unscaled.slice(i * latentSize, (i + 1) * latentSize);
    const out = await s.vaeDecoder.run({ [vaeIn]: floatTensor(vaeType, one, [1, 4, lh, lw]) });
    const image = toFloat32(out[s.vaeDecoder.outputNames[0]] as ort.Tensor);
    // (image / 2 + 0.5).clamp(0, 1)
    const clamped = new Float32Array(image.length);
    for (let k = 0; k < image.length; k++) clamped[k] = Math.min(1, Math.max(0, image[k] / 2 + 0.5));
    // permute(0, 2, 3, 1), then (images * 255).round().astype("uint8")
    const plane = width * height;
    const rgb = new Uint8Array(plane * 3);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) rgb[p * 3 + c] = Math.round(clamped[c * plane + p] * 255);
    }
    images.push(rgb);
  }
  return images;
}

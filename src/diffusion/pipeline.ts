// Stable Diffusion on ONNX Runtime: text-to-image and image-to-image, following diffusers'
// pipelines step for step so that a seed gives the same picture here as there.
import * as ort from 'onnxruntime-node';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { ClipTokenizer } from './tokenizer.js';
import { TorchGenerator } from './rng.js';
import { createScheduler } from './schedulers/index.js';
import { inspectModel, type ModelDefaults, type ModelInfo } from './model.js';
import { createSession, deviceLabel, firstLine, parseDevice, requireInput, requireOutput, type Device, type LoadedSession } from './sessions.js';
import { floatTensor, tensorToFloat32, type FloatType } from './tensors.js';
import { GenerationAbortedError, InputError, ModelError } from './errors.js';
import { chwToRgb, loadImageRgb, rgbToChw } from './image-io.js';
import { latentPreview } from './preview.js';
import { encodePng, formatParameters } from './png.js';
import { validateRequest } from './validate.js';
import type { GenerateOptions, GenerationRequest, GenerationResult, SchedulerName } from './types.js';

const LATENT_CHANNELS = 4;
const VAE_SCALE = 8;

/** Counts and times every session.run, so overhead and "one UNet call per step" are measurable. */
export interface RunStats {
  textEncoderCalls: number;
  unetCalls: number;
  /** Batch size of the last UNet call (2 × images with guidance, 1 × images without). */
  unetBatch: number;
  vaeCalls: number;
  textEncoderMs: number;
  unetMs: number;
  vaeMs: number;
}

function emptyStats(): RunStats {
  return { textEncoderCalls: 0, unetCalls: 0, unetBatch: 0, vaeCalls: 0, textEncoderMs: 0, unetMs: 0, vaeMs: 0 };
}

function floatType(meta: ort.InferenceSession.TensorValueMetadata): FloatType {
  if (meta.type === 'float16') return 'float16';
  if (meta.type === 'float32') return 'float32';
  throw new ModelError(`Input "${meta.name}" has type ${meta.type}; expected float32 or float16. Re-export the model.`);
}

function isAbortError(err: unknown): boolean {
  return err instanceof GenerationAbortedError;
}

export class StableDiffusionPipeline {
  readonly device: string;
  private vaeEncoder?: LoadedSession;
  private stats: RunStats = emptyStats();

  private constructor(
    readonly model: ModelInfo,
    private readonly dev: Device,
    private readonly tokenizer: ClipTokenizer,
    private readonly textEncoder: LoadedSession,
    private readonly unet: LoadedSession,
    private readonly vaeDecoder: LoadedSession,
  ) {
    this.device = deviceLabel(unet.device);
  }

  get modelDir(): string {
    return this.model.dir;
  }

  get defaults(): ModelDefaults {
    return this.model.defaults;
  }

  /** Counters since the last reset (tests and benchmarks read them). */
  get runStats(): Readonly<RunStats> {
    return this.stats;
  }

  static async load(modelDir: string, opts: { device?: string } = {}): Promise<StableDiffusionPipeline> {
    const model = inspectModel(modelDir);
    const device = parseDevice(opts.device ?? 'cpu');
    const tokenizer = await ClipTokenizer.fromDir(model.tokenizerDir).catch((err: unknown) => {
      throw new ModelError(`Tokenizer files in ${model.tokenizerDir} cannot be read: ${firstLine(err)}`);
    });
    // Sequential on purpose: parallel creation would hold every graph's load peak at once.
    const textEncoder = await createSession(model.files.textEncoder, device, 'text_encoder');
    const unet = await createSession(model.files.unet, device, 'unet');
    const vaeDecoder = await createSession(model.files.vaeDecoder, device, 'vae_decoder');
    const p = new StableDiffusionPipeline(model, device, tokenizer, textEncoder, unet, vaeDecoder);
    p.checkSignatures();
    return p;
  }

  /** Fails at load time, with the fix, when a graph is not a Stable Diffusion export. */
  private checkSignatures(): void {
    requireInput(this.textEncoder, 'text_encoder', ['input_ids']);
    requireInput(this.unet, 'unet', ['sample']);
    requireInput(this.unet, 'unet', ['timestep']);
    requireInput(this.unet, 'unet', ['encoder_hidden_states']);
    requireInput(this.vaeDecoder, 'vae_decoder', ['latent_sample']);
    const sample = requireInput(this.unet, 'unet', ['sample']);
    const channels = sample.shape[1];
    if (typeof channels === 'number' && channels !== LATENT_CHANNELS) {
      throw new ModelError(
        `unet takes ${channels}-channel samples; this is an inpainting or otherwise special UNet, which text-to-image cannot use.`,
      );
    }
  }

  resetStats(): void {
    this.stats = emptyStats();
  }

  async dispose(): Promise<void> {
    const sessions = [this.textEncoder, this.unet, this.vaeDecoder, this.vaeEncoder];
    for (const s of sessions) await s?.session.release();
    this.vaeEncoder = undefined;
  }

  async generate(reqIn: GenerationRequest, opts: GenerateOptions = {}): Promise<GenerationResult> {
    const started = performance.now();
    const before = { ...this.stats };
    const req = validateRequest(reqIn, this.model.defaults);
    const schedulerName: SchedulerName = req.scheduler ?? this.model.defaults.scheduler;
    const { width, height, count } = req;
    const lh = height / VAE_SCALE;
    const lw = width / VAE_SCALE;
    const latentSize = LATENT_CHANNELS * lh * lw;
    const throwIfAborted = () => {
      if (opts.signal?.aborted) throw new GenerationAbortedError();
    };
    throwIfAborted();

    const guided = req.guidanceScale > 1;
    const cond = await this.encodePrompt(req.prompt);
    const uncond = guided ? await this.encodePrompt(req.negativePrompt ?? '') : undefined;

    // One scheduler and one generator per image, as diffusers does with a list of generators:
    // image i is exactly what seed + i alone would give.
    const generators = Array.from({ length: count }, (_, i) => new TorchGenerator(BigInt(req.seed) + BigInt(i)));
    const schedulers = Array.from({ length: count }, () => {
      const s = createScheduler(schedulerName, this.model.schedulerConfig);
      s.setTimesteps(req.steps);
      return s;
    });
    let timesteps = schedulers[0].timesteps;
    let latents: Float32Array[];

    let initRgb: Uint8Array | undefined;
    if (req.initImage) {
      const strength = req.strength ?? 0.75;
      initRgb = await loadImageRgb(req.initImage, width, height);
      // diffusers' get_timesteps: keep the last int(steps × strength) timesteps.
      const initTimestep = Math.min(Math.floor(req.steps * strength), req.steps);
      if (initTimestep === 0) {
        // Strength 0 (or too few steps for it): nothing to denoise; the input is the answer.
        return this.finish(req, schedulerName, started, before, cond.truncated, [initRgb], count);
      }
      const tStart = Math.max(req.steps - initTimestep, 0);
      timesteps = timesteps.slice(tStart);
      // As diffusers' img2img: the schedulers start part-way through their timesteps.
      for (const s of schedulers) s.setBeginIndex?.(tStart);
      const initLatents = await this.encodeImage(rgbToChw(initRgb, width, height), lh, lw, generators);
      latents = initLatents.map((x0, i) => {
        const noise = generators[i].randn(latentSize);
        return schedulers[i].addNoise(x0, noise, timesteps[0]);
      });
    } else {
      latents = generators.map((g, i) => {
        const noise = g.randn(latentSize);
        const sigma = schedulers[i].initNoiseSigma;
        if (sigma !== 1) for (let k = 0; k < noise.length; k++) noise[k] *= sigma;
        return noise;
      });
    }

    const unetSample = requireInput(this.unet, 'unet', ['sample']);
    const unetDtype = floatType(unetSample);
    const hiddenDtype = floatType(requireInput(this.unet, 'unet', ['encoder_hidden_states']));
    const unetOut = requireOutput(this.unet, 'unet', ['out_sample', 'noise_pred']);
    const batch = guided ? 2 * count : count;
    // [uncond × count, cond × count], like diffusers' prompt_embeds = cat([negative, positive]).
    const hidden = stackRepeated(guided ? [uncond!.hidden, cond.hidden] : [cond.hidden], count);
    const hiddenTensor = floatTensor(hiddenDtype, hidden, [batch, cond.seqLen, cond.dim]);

    for (let stepIndex = 0; stepIndex < timesteps.length; stepIndex++) {
      throwIfAborted();
      const t = timesteps[stepIndex];
      const input = new Float32Array(batch * latentSize);
      for (let i = 0; i < count; i++) {
        const scaled = schedulers[i].scaleModelInput(latents[i], t);
        input.set(scaled, i * latentSize);
        if (guided) input.set(scaled, (count + i) * latentSize);
      }
      const feeds: Record<string, ort.Tensor> = {
        sample: floatTensor(unetDtype, input, [batch, LATENT_CHANNELS, lh, lw]),
        timestep: this.timestepTensor(t, batch),
        encoder_hidden_states: hiddenTensor,
      };
      const out = await this.run(this.unet, 'unet', feeds, batch);
      const noise = tensorToFloat32(out[unetOut] as ort.Tensor);

      let firstX0: Float32Array | undefined;
      for (let i = 0; i < count; i++) {
        let pred: Float32Array;
        if (guided) {
          pred = new Float32Array(latentSize);
          const u = i * latentSize;
          const c = (count + i) * latentSize;
          const g = req.guidanceScale;
          for (let k = 0; k < latentSize; k++) pred[k] = noise[u + k] + g * (noise[c + k] - noise[u + k]);
        } else {
          pred = noise.subarray(i * latentSize, (i + 1) * latentSize);
        }
        const res = schedulers[i].step(pred, t, latents[i], generators[i]);
        latents[i] = res.prevSample;
        if (i === 0) firstX0 = res.predOriginalSample;
      }
      opts.onProgress?.({
        step: stepIndex + 1,
        totalSteps: timesteps.length,
        preview: latentPreview(firstX0 ?? latents[0], lw, lh),
      });
    }
    throwIfAborted();

    const rgbs: Uint8Array[] = [];
    for (const l of latents) rgbs.push(await this.decode(l, lh, lw));
    return this.finish(req, schedulerName, started, before, cond.truncated, rgbs, count);
  }

  private async finish(
    req: ReturnType<typeof validateRequest>,
    scheduler: SchedulerName,
    started: number,
    before: RunStats,
    truncatedTokens: number,
    rgbs: Uint8Array[],
    count: number,
  ): Promise<GenerationResult> {
    const images = [];
    for (let i = 0; i < count; i++) {
      const rgb = rgbs[i] ?? rgbs[0];
      const seed = req.seed + i;
      const params = formatParameters({
        prompt: req.prompt,
        negativePrompt: req.negativePrompt,
        seed,
        steps: req.steps,
        scheduler,
        guidanceScale: req.guidanceScale,
        width: req.width,
        height: req.height,
        model: this.model.name,
        strength: req.initImage ? (req.strength ?? 0.75) : undefined,
      });
      images.push({ png: await encodePng(rgb, req.width, req.height, params), seed, width: req.width, height: req.height });
    }
    const s = this.stats;
    const unetCalls = s.unetCalls - before.unetCalls;
    const unetMs = s.unetMs - before.unetMs;
    return {
      images,
      truncatedTokens,
      scheduler,
      timings: {
        totalMs: performance.now() - started,
        textEncoderMs: s.textEncoderMs - before.textEncoderMs,
        unetMs,
        vaeMs: s.vaeMs - before.vaeMs,
        stepMs: unetCalls ? unetMs / unetCalls : 0,
      },
    };
  }

  private async run(
    s: LoadedSession,
    part: 'text_encoder' | 'unet' | 'vae',
    feeds: Record<string, ort.Tensor>,
    batch = 1,
  ): Promise<ort.InferenceSession.ReturnType> {
    const t0 = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await s.session.run(feeds);
    } catch (err) {
      throw new ModelError(
        `${part} failed: ${firstLine(err)}. If the size is not a multiple of 64, try one that is; otherwise the model export may be broken.`,
      );
    }
    const ms = performance.now() - t0;
    if (part === 'text_encoder') {
      this.stats.textEncoderCalls++;
      this.stats.textEncoderMs += ms;
    } else if (part === 'unet') {
      this.stats.unetCalls++;
      this.stats.unetBatch = batch;
      this.stats.unetMs += ms;
    } else {
      this.stats.vaeCalls++;
      this.stats.vaeMs += ms;
    }
    return out;
  }

  private async encodePrompt(text: string): Promise<{ hidden: Float32Array; seqLen: number; dim: number; truncated: number }> {
    const { ids, truncatedTokens } = this.tokenizer.encodeWithInfo(text);
    const meta = requireInput(this.textEncoder, 'text_encoder', ['input_ids']);
    const dims = [1, ids.length];
    const tensor =
      meta.type === 'int64'
        ? new ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), dims)
        : new ort.Tensor('int32', Int32Array.from(ids), dims);
    const out = await this.run(this.textEncoder, 'text_encoder', { [meta.name]: tensor });
    const name = requireOutput(this.textEncoder, 'text_encoder', ['last_hidden_state', 'hidden_states']);
    const t = out[name] as ort.Tensor;
    return { hidden: tensorToFloat32(t), seqLen: t.dims[1], dim: t.dims[2], truncated: truncatedTokens };
  }

  /** The UNet's timestep as its graph declares it: int64 or float, [batch], [1] or rank 0. */
  private timestepTensor(t: number, batch: number): ort.Tensor {
    const meta = requireInput(this.unet, 'unet', ['timestep']);
    const rank0 = meta.shape.length === 0;
    const n = rank0 ? 1 : meta.shape[0] === 1 ? 1 : batch;
    const dims = rank0 ? [] : [n];
    switch (meta.type) {
      case 'int64':
        // diffusers' ONNX pipeline casts fractional (Euler) timesteps with numpy: truncation.
        return new ort.Tensor('int64', new BigInt64Array(n).fill(BigInt(Math.trunc(t))), dims);
      case 'int32':
        return new ort.Tensor('int32', new Int32Array(n).fill(Math.trunc(t)), dims);
      case 'float32':
      case 'float16':
        return floatTensor(meta.type, new Float32Array(n).fill(t), dims);
      default:
        throw new ModelError(`unet timestep has unsupported type ${meta.type}. Re-export the model.`);
    }
  }

  private async decode(latents: Float32Array, lh: number, lw: number): Promise<Uint8Array> {
    const meta = requireInput(this.vaeDecoder, 'vae_decoder', ['latent_sample']);
    const scaled = new Float32Array(latents.length);
    const f = 1 / this.model.vaeScalingFactor;
    for (let i = 0; i < latents.length; i++) scaled[i] = latents[i] * f;
    const out = await this.run(this.vaeDecoder, 'vae', {
      [meta.name]: floatTensor(floatType(meta), scaled, [1, LATENT_CHANNELS, lh, lw]),
    });
    const img = tensorToFloat32(out[requireOutput(this.vaeDecoder, 'vae_decoder', ['sample'])] as ort.Tensor);
    return chwToRgb(img, lw * VAE_SCALE, lh * VAE_SCALE);
  }

  /** VAE-encodes the input once per image; a distribution output draws from that image's generator. */
  private async encodeImage(chw: Float32Array, lh: number, lw: number, generators: TorchGenerator[]): Promise<Float32Array[]> {
    if (!this.model.files.vaeEncoder) {
      throw new ModelError(`Model ${this.model.name} has no vae_encoder/model.onnx, which image-to-image needs. Re-download the full model.`);
    }
    this.vaeEncoder ??= await createSession(this.model.files.vaeEncoder, this.dev, 'vae_encoder');
    const enc = this.vaeEncoder;
    const meta = requireInput(enc, 'vae_encoder', ['sample']);
    const out = await this.run(enc, 'vae', {
      [meta.name]: floatTensor(floatType(meta), chw, [1, 3, lh * VAE_SCALE, lw * VAE_SCALE]),
    });
    const name = requireOutput(enc, 'vae_encoder', ['latent_sample', 'latent_parameters']);
    const data = tensorToFloat32(out[name] as ort.Tensor);
    const n = LATENT_CHANNELS * lh * lw;
    const k = this.model.vaeScalingFactor;
    return generators.map((g) => {
      const z = new Float32Array(n);
      if (name === 'latent_parameters') {
        // mean and log-variance stacked on channels; sample = mean + std × ε, ε from the generator.
        const eps = g.randn(n);
        for (let i = 0; i < n; i++) {
          const logvar = Math.min(Math.max(data[n + i], -30), 20);
          z[i] = (data[i] + Math.exp(0.5 * logvar) * eps[i]) * k;
        }
      } else {
        for (let i = 0; i < n; i++) z[i] = data[i] * k;
      }
      return z;
    });
  }
}

/** Repeats each embedding `count` times, in order: [a, a, …, b, b, …]. */
function stackRepeated(parts: Float32Array[], count: number): Float32Array {
  const size = parts[0].length;
  const out = new Float32Array(parts.length * count * size);
  let off = 0;
  for (const p of parts) {
    for (let i = 0; i < count; i++, off += size) out.set(p, off);
  }
  return out;
}

const cache = new Map<string, Promise<StableDiffusionPipeline>>();

/**
 * Contract: one pipeline (and so one set of sessions) per model folder and device; later
 * calls reuse it until `dispose`.
 */
export async function loadPipeline(modelDir: string, opts: { device?: string } = {}): Promise<StableDiffusionPipeline> {
  const key = `${inspectModel(modelDir).dir}|${deviceLabel(parseDevice(opts.device ?? 'cpu'))}`;
  let p = cache.get(key);
  if (!p) {
    p = StableDiffusionPipeline.load(modelDir, opts);
    cache.set(key, p);
    p.then(
      (pipe) => {
        const dispose = pipe.dispose.bind(pipe);
        pipe.dispose = async () => {
          cache.delete(key);
          await dispose();
        };
      },
      () => cache.delete(key),
    );
  }
  return p;
}

/** Lanczos upscale through sharp (the fallback when no upscaler model is configured). */
export async function upscaleImage(png: Uint8Array, factor: 2 | 4): Promise<Buffer> {
  const meta = await sharp(png).metadata();
  if (!meta.width || !meta.height) throw new InputError('The image to upscale could not be read.');
  return sharp(png)
    .resize(meta.width * factor, meta.height * factor, { kernel: 'lanczos3' })
    .png({ compressionLevel: 6 })
    .toBuffer();
}

export { isAbortError };

// Stable Diffusion on ONNX Runtime: text-to-image, image-to-image and inpainting, following diffusers'
// pipelines step for step so that a seed gives the same picture here as there. SD 3.x runs the
// same loop with its MMDiT transformer in the UNet's place (sd3/denoiser.ts: feed names, 16
// latent channels, pooled projections; sd3/prompt-encoding.ts: three text encoders).
import type * as ort from 'onnxruntime-node';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { ClipTokenizer } from './tokenizer.js';
import { TorchGenerator } from './rng.js';
import { createScheduler, stepCounter } from './schedulers/index.js';
import { freshStepBuffers, type ModelOutput, type StepOutput } from './schedulers/types.js';
import { inspectModel, type ModelDefaults, type ModelInfo } from './model-inspect.js';
import { createSession, deviceLabel, firstLine, parseDevice, requireInput, requireOutput, type Device, type LoadedSession } from './sessions.js';
import { floatTensor, tensorToFloat32, type FloatType } from './tensors.js';
import { GenerationAbortedError, InputError, ModelError } from './errors.js';
import { defaultStrength, initTimestep, type EncodedImage } from './img2img.js';
import { prepareImageStart } from './image-start.js';
import { progressOf } from './preview.js';
import { encodeRawImage, formatParameters } from './png.js';
import { DEFAULT_INPAINT_PADDING, validateRequest } from './validate.js';
import { loadSecondTextEncoder, PromptEncoder, type TextEncoderPart } from './prompt-encoding.js';
import { classifierFreeGuidance, describeUnetConditioning, timestepTensor, unetExtraFeeds, type UnetConditioning } from './unet-inputs.js';
import type { GenerateOptions, GenerationRequest, GenerationResult, RawGenerationResult, RawImage, SchedulerName } from './types.js';
import { memoryOptionsKey, resolveMemoryOptions, type MemoryOptions, type PipelineLoadOptions } from './memory-options.js';
import { decodeLatents } from './vae-decode.js';
import { ReusedOutput, ReusedSample } from './unet-buffers.js';
import { SafetyChecker } from './safety-checker.js';
import { lorasKey, stripLoraTags, type LoraSpec } from './lora/choices.js';
import { isSd3Family } from './families.js';
import { Sd3PromptEncoder } from './sd3/prompt-encoding.js';
import { checkSd3Request, describeSd3Transformer, loadT5Encoder, type Sd3Transformer } from './sd3/denoiser.js';
import type { T5Tokenizer } from './t5/tokenizer.js';
import { extendTextEncoder, type EmbeddingFile } from './embeddings.js';
import { LoraMerger, loadLoras, loraHashesField, type LoraReport } from './lora/apply.js';
// --- ControlNet ---
import { basename, dirname } from 'node:path';
import { ControlNet, resolveControlNetDir } from './controlnet.js';
import { describeUnetResiduals, type UnetResiduals } from './controlnet-residuals.js';
import { ResidualFeeds, type ControlPlan } from './controlnet-steps.js';
import { CANNY_DEFAULTS, prepareControlMap } from './preprocess.js';

const LATENT_CHANNELS = 4;
const INPAINT_UNET_CHANNELS = 9;
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
  /** ControlNet runs, and the step indices they ran for (guidance start/end). */
  controlnetCalls: number;
  controlnetSteps: number[];
}

function emptyStats(): RunStats {
  return { textEncoderCalls: 0, unetCalls: 0, unetBatch: 0, vaeCalls: 0, textEncoderMs: 0, unetMs: 0, vaeMs: 0, controlnetCalls: 0, controlnetSteps: [] };
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
  /** Memory savers chosen at load (memory-options.ts). */
  private memory: MemoryOptions = resolveMemoryOptions();
  private safetyChecker?: SafetyChecker;
  /** SDXL's and SD3's second text encoder and tokenizer. */
  private textEncoder2?: { tokenizer: ClipTokenizer; session: LoadedSession };
  /** SD3's T5 encoder and tokenizer, when the folder has one and the memory options keep it. */
  private textEncoder3?: { tokenizer: T5Tokenizer; session: LoadedSession };
  private prompts!: PromptEncoder | Sd3PromptEncoder;
  /** SD3: the transformer's feed names and widths (sd3/denoiser.ts). */
  private sd3?: Sd3Transformer;
  private unetConditioning: UnetConditioning = {};
  /** 4, or 9 for an inpainting UNet. */
  private unetChannels: 4 | 9 = LATENT_CHANNELS;
  /** LoRAs merged into this pipeline's sessions (lora/apply.ts), with what each matched. */
  private loraReports: LoraReport[] = [];
  // --- ControlNet ---
  /** The UNet's residual inputs, when it is a ControlNet-ready export (controlnet-residuals.ts). */
  private unetResiduals?: UnetResiduals;
  /** The last ControlNet used, kept loaded for the next job (one at a time). */
  private controlnet?: ControlNet;

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

  /** The LoRAs merged into this pipeline, with their match counts and A1111 short hashes. */
  get loras(): readonly LoraReport[] {
    return this.loraReports;
  }

  /** Counters since the last reset (tests and benchmarks read them). */
  get runStats(): Readonly<RunStats> {
    return this.stats;
  }

  static async load(modelDir: string, opts: PipelineOptions = {}): Promise<StableDiffusionPipeline> {
    const memory = resolveMemoryOptions(opts);
    const keep = { releaseWhenIdle: memory.releaseSessions };
    const model = inspectModel(modelDir);
    const device = parseDevice(opts.device ?? 'cpu');
    const sd3 = isSd3Family(model.family);
    const tokenizerLoad = ClipTokenizer.fromDir(model.tokenizerDir).catch((err: unknown) => {
      throw new ModelError(`Tokenizer files in ${model.tokenizerDir} cannot be read: ${firstLine(err)}`);
    });
    // LoRAs are merged part by part just before that part's session is made (lora/apply.ts);
    // textual-inversion embeddings extend the token table after any merge (embeddings.ts).
    const merger = new LoraMerger(opts.loras?.length ? await loadLoras(opts.loras) : []);
    // Textual-inversion files are CLIP-L/G vectors for SD 1.x/SDXL token tables; SD3 jobs go without.
    const embeddings = sd3 ? [] : (opts.embeddings ?? []);
    const created: LoadedSession[] = [];
    const track = (s: LoadedSession) => {
      created.push(s);
      return s;
    };
    const loadTextEncoder = async () => {
      const te = await extendTextEncoder(await merger.source('text_encoder', model.files.textEncoder), 'text_encoder', embeddings);
      return { ids: te.ids, loaded: track(await createSession(te.source, device, 'text_encoder', keep)) };
    };
    const loadTextEncoder2 = async () => {
      const te2 = model.files.textEncoder2
        ? await extendTextEncoder(await merger.source('text_encoder_2', model.files.textEncoder2), 'text_encoder_2', embeddings)
        : undefined;
      const enc = await loadSecondTextEncoder(model, device, keep, te2?.source);
      if (!enc) return enc;
      track(enc.session);
      return te2?.ids.size ? { ...enc, tokenizer: enc.tokenizer.withAddedWords(te2.ids) } : enc;
    };
    const loadTextEncoder3 = async () => {
      const t5 = memory.textEncoder3 ? await loadT5Encoder(model, device, keep) : undefined;
      if (t5) track(t5.session);
      return t5;
    };
    // SD3's denoiser is the MMDiT: LoRAs name it 'transformer' (diffusers' part name).
    const denoiser = sd3 ? 'transformer' : 'unet';
    const loadUnet = async () => track(await createSession(await merger.source(denoiser, model.files.unet), device, 'unet'));
    const loadVae = async () => track(await createSession(model.files.vaeDecoder, device, 'vae_decoder', keep));
    // Concurrently by default (ONNX Runtime builds each graph on its own thread, so cold start is
    // the slowest graph, not the sum). One after another with lowMemory (only one graph's load
    // peak held at a time) and with LoRAs (only one part's merged bytes in memory at a time).
    const sequential = memory.releaseSessions || merger.loras.length > 0;
    let p: StableDiffusionPipeline;
    try {
      const loads = sequential
        ? ([await tokenizerLoad, await loadTextEncoder(), await loadTextEncoder2(), await loadTextEncoder3(), await loadUnet(), await loadVae()] as const)
        : await settleAll([tokenizerLoad, loadTextEncoder(), loadTextEncoder2(), loadTextEncoder3(), loadUnet(), loadVae()] as const);
      const [clip, te, textEncoder2, textEncoder3, unet, vaeDecoder] = loads;
      const tokenizer = te.ids.size ? clip.withAddedWords(te.ids) : clip;
      p = new StableDiffusionPipeline(model, device, tokenizer, te.loaded, unet, vaeDecoder);
      p.textEncoder2 = textEncoder2;
      p.textEncoder3 = textEncoder3;
      p.loraReports = merger.finish(model.name, denoiser);
    } catch (err) {
      // settleAll waited for every load, so `created` holds every session that started.
      for (const s of created) await s.session.release().catch(() => {});
      throw err;
    }
    p.memory = memory;
    try {
      if (memory.safetyChecker && model.files.safetyChecker) {
        p.safetyChecker = await SafetyChecker.load(model.files.safetyChecker, model.dir, device, keep);
      }
      p.checkSignatures();
    } catch (err) {
      // A folder whose graphs do not fit together leaves no native sessions behind.
      await p.dispose().catch(() => {});
      throw err;
    }
    return p;
  }

  /** Whether this is a Stable Diffusion 3.x model (transformer, flow matching, 16-channel latents). */
  get isSd3(): boolean {
    return this.sd3 !== undefined;
  }

  /** SD3: the transformer's signature and the three text encoders' (sd3/denoiser.ts, sd3/prompt-encoding.ts). */
  private checkSd3Signatures(): void {
    const te2 = this.textEncoder2;
    if (!te2) throw new ModelError(`Model ${this.model.name} is Stable Diffusion 3 but text_encoder_2 did not load.`);
    this.sd3 = describeSd3Transformer(this.unet, this.model, this.textEncoder3?.session);
    const layers = this.model.textEncoderLayers;
    this.prompts = new Sd3PromptEncoder(
      [
        { part: 'text_encoder', tokenizer: this.tokenizer, session: this.textEncoder, layers: layers.textEncoder },
        { part: 'text_encoder_2', ...te2, layers: layers.textEncoder2 },
      ],
      this.textEncoder3,
      { jointDim: this.sd3.jointDim, run: (session, feeds, fetches) => this.run(session, 'text_encoder', feeds, 1, fetches) },
    );
    requireInput(this.vaeDecoder, 'vae_decoder', ['latent_sample']);
    this.unetConditioning = {};
  }

  /** Fails at load time, with the fix, when a graph is not a Stable Diffusion export. */
  private checkSignatures(): void {
    if (isSd3Family(this.model.family)) {
      this.checkSd3Signatures();
      return;
    }
    this.prompts = this.createPromptEncoder();
    this.unetConditioning = describeUnetConditioning(this.unet, {
      name: this.model.name,
      pooledPrompt: this.prompts.pooled,
      timeCondProjDim: this.model.timeCondProjDim,
    });
    requireInput(this.unet, 'unet', ['sample']);
    requireInput(this.unet, 'unet', ['timestep']);
    requireInput(this.unet, 'unet', ['encoder_hidden_states']);
    requireInput(this.vaeDecoder, 'vae_decoder', ['latent_sample']);
    const sample = requireInput(this.unet, 'unet', ['sample']);
    const channels = sample.shape[1];
    // 9 = an inpainting UNet (latents + mask + masked-image latents, inpaint.ts).
    if (typeof channels === 'number' && channels !== LATENT_CHANNELS && channels !== INPAINT_UNET_CHANNELS) {
      throw new ModelError(
        `unet takes ${channels}-channel samples; only 4 (Stable Diffusion) and 9 (its inpainting variant) are supported. Use another model.`,
      );
    }
    this.unetChannels = channels === INPAINT_UNET_CHANNELS ? INPAINT_UNET_CHANNELS : LATENT_CHANNELS;
    this.unetResiduals = describeUnetResiduals(this.unet);
  }

  /** Whether the UNet takes ControlNet residuals. */
  get acceptsControlNet(): boolean {
    return this.unetResiduals !== undefined;
  }

  // --- ControlNet ---
  /** The job's ControlNet and control map; fails before any step when the UNet cannot take one. */
  private async controlPlan(req: ReturnType<typeof validateRequest>): Promise<ControlPlan | undefined> {
    const cn = req.controlnet;
    if (!cn || !req.controlImage) return undefined;
    if (this.sd3) {
      throw new InputError(
        `ControlNet is not supported on Stable Diffusion 3 models yet (${this.model.name}); run the job without one or pick an SD 1.x model.`,
      );
    }
    if (!this.unetResiduals) {
      throw new ModelError(
        `Model ${this.model.name}'s unet takes no ControlNet residuals (down_block_0 … mid_block_additional_residual), so it cannot use ControlNet ${cn.model}. ` +
          'Use the ControlNet variant of its UNet export (models/README.md, ControlNet).',
      );
    }
    const dir = resolveControlNetDir(dirname(this.model.dir), cn.model);
    if (this.controlnet?.dir !== dir) {
      await this.controlnet?.dispose();
      this.controlnet = undefined;
      this.controlnet = await ControlNet.load(dir, this.dev, this.unetResiduals, this.unet, this.model.name);
    }
    const map = await prepareControlMap(req.controlImage, req.width, req.height, cn.preprocessor ?? 'canny', { low: cn.cannyLow, high: cn.cannyHigh });
    return { net: this.controlnet, map: map.chw, scale: cn.scale ?? 1, start: cn.guidanceStart ?? 0, end: cn.guidanceEnd ?? 1 };
  }

  /** SD 1.x / 2.x: text_encoder; SDXL: both encoders (prompt-encoding.ts). */
  private createPromptEncoder(): PromptEncoder {
    const layers = this.model.textEncoderLayers;
    const parts: TextEncoderPart[] = [{ part: 'text_encoder', tokenizer: this.tokenizer, session: this.textEncoder, layers: layers.textEncoder }];
    if (this.textEncoder2) parts.push({ part: 'text_encoder_2', ...this.textEncoder2, layers: layers.textEncoder2 });
    return new PromptEncoder(parts, {
      forceZerosForEmptyPrompt: this.model.forceZerosForEmptyPrompt,
      run: (session, feeds, fetches) => this.run(session, 'text_encoder', feeds, 1, fetches),
    });
  }

  resetStats(): void {
    this.stats = emptyStats();
  }

  async dispose(): Promise<void> {
    const sessions = [this.textEncoder, this.textEncoder2?.session, this.textEncoder3?.session, this.unet, this.vaeDecoder, this.vaeEncoder];
    for (const s of sessions) await s?.session.release();
    await this.controlnet?.dispose();
    this.controlnet = undefined;
    await this.safetyChecker?.dispose();
    this.vaeEncoder = undefined;
  }

  /** Generates and returns PNGs (with the `parameters` chunk), encoded concurrently. */
  async generate(req: GenerationRequest, opts: GenerateOptions = {}): Promise<GenerationResult> {
    const started = performance.now();
    const raw = await this.generateRaw(req, opts);
    const pngs = await Promise.all(raw.images.map((img) => encodeRawImage(img)));
    const images = raw.images.map(({ rgb: _rgb, parameters: _parameters, ...img }, i) => ({ ...img, png: pngs[i] }));
    return { ...raw, images, timings: { ...raw.timings, totalMs: performance.now() - started } };
  }

  /**
   * The same generation as generate(), handing back raw RGB pixels and each image's
   * `parameters` text instead of PNG bytes, so a consumer can encode off the critical path
   * (encodeRawImage, png.ts) or not at all.
   */
  async generateRaw(reqIn: GenerationRequest, opts: GenerateOptions = {}): Promise<RawGenerationResult> {
    const started = performance.now();
    const before = { ...this.stats };
    const req = validateRequest(reqIn, this.model.defaults);
    const schedulerName: SchedulerName = req.scheduler ?? this.model.defaults.scheduler;
    // Flow-matching schedulers only for SD3, and only they (sd3/denoiser.ts): a clear refusal before any work.
    checkSd3Request(this.model, req, schedulerName);
    const { width, height, count } = req;
    const lh = height / VAE_SCALE;
    const lw = width / VAE_SCALE;
    const channels = this.model.latentChannels;
    const latentSize = channels * lh * lw;
    const throwIfAborted = () => {
      if (opts.signal?.aborted) throw new GenerationAbortedError();
    };
    throwIfAborted();
    // ControlNet first: a missing one or an unreadable control image fails before any model work.
    const control = await this.controlPlan(req);

    // LCM UNets take the guidance scale as an input instead of a second batch half.
    const guided = classifierFreeGuidance(req.guidanceScale, this.unetConditioning);
    // <lora:…> tags chose the LoRAs when this pipeline was loaded; the text encoder never sees them.
    const negative = req.negativePrompt === undefined ? undefined : stripLoraTags(req.negativePrompt);
    const { cond, uncond } = await this.prompts.encodePair(stripLoraTags(req.prompt), negative, guided);

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

    // Image-to-image and inpainting (image-start.ts): the tail of the timesteps and its start latents.
    const imageStart = await prepareImageStart(
      { ...req, strength: defaultStrength(req) },
      {
        unetChannels: this.unetChannels,
        scalingFactor: this.model.vaeScalingFactor,
        sd3: this.sd3 ? { latentChannels: 16, shiftFactor: this.model.vaeShiftFactor } : undefined,
        generators,
        schedulers,
        encode: (chw) => this.encodeImage(chw, lh, lw),
      },
    );
    if (imageStart?.kind === 'unchanged') {
      // Strength 0 (or too few steps for it), or an empty mask: nothing to denoise; the input is
      // the answer, and its infotext claims no "Only masked" crop (A1111 drops it for a blank mask).
      const asRun = { ...req, inpaintArea: undefined, inpaintPadding: undefined };
      return this.finish(asRun, schedulerName, started, before, cond.truncated, [imageStart.rgb], count);
    }
    const inpainter = imageStart?.inpainter;
    if (imageStart) {
      timesteps = imageStart.timesteps;
      latents = imageStart.latents;
    } else {
      latents = generators.map((g, i) => {
        const noise = g.randn(latentSize);
        const sigma = schedulers[i].initNoiseSigma;
        if (sigma !== 1) for (let k = 0; k < noise.length; k++) noise[k] *= sigma;
        return noise;
      });
    }

    const sd3 = this.sd3;
    const unetSample = sd3 ? sd3.sample : requireInput(this.unet, 'unet', ['sample']);
    const unetDtype = floatType(unetSample);
    const hiddenDtype = floatType(requireInput(this.unet, 'unet', ['encoder_hidden_states']));
    const unetOut = sd3 ? sd3.output : requireOutput(this.unet, 'unet', ['out_sample', 'noise_pred']);
    const batch = guided ? 2 * count : count;
    // [uncond × count, cond × count], like diffusers' prompt_embeds = cat([negative, positive]).
    const hidden = stackRepeated(guided ? [uncond!.hidden, cond.hidden] : [cond.hidden], count);
    const hiddenTensor = floatTensor(hiddenDtype, hidden, [batch, cond.seqLen, cond.dim]);
    // SDXL's text_embeds/time_ids, LCM's timestep_cond: the same every step.
    const extraFeeds = sd3
      ? sd3.pooledFeeds(guided ? [uncond?.pooled, cond.pooled] : [cond.pooled], count)
      : unetExtraFeeds(this.unetConditioning, { count, guided, width, height, guidanceScale: req.guidanceScale, cond, uncond });
    const sampleDims = [batch, sd3 ? channels : this.unetChannels, lh, lw];
    const g = req.guidanceScale;

    // Progress counts the run's steps as diffusers does, not UNet calls (Heun and DPM++ SDE make
    // two per step, PNDM one extra to warm up).
    const residualFeeds = this.unetResiduals ? new ResidualFeeds(this.unetResiduals, control, batch, lh, lw) : undefined;
    // SD3 img2img rounds the strength its own way (img2img.ts); the tail's length is the run's steps either way.
    const runSteps = sd3 && imageStart ? timesteps.length : initTimestep(req.steps, defaultStrength(req) ?? 1);
    const completedStep = stepCounter(timesteps.length, runSteps, schedulers[0].order);
    // On the CPU the sample and the output live in per-job buffers (unet-buffers.ts); the
    // 9-channel inpainting sample is built fresh each step from the 4-channel one (SD3: 16 channels).
    const reuse = this.unet.device.kind === 'cpu';
    const latentInput = reuse ? new ReusedSample(unetDtype, [batch, channels, lh, lw]) : undefined;
    let unetOutput: ReusedOutput | undefined;
    // A scheduler that keeps nothing between steps (stepInto) writes into per-job buffers, two
    // per image used in turn: a step never writes the sample it reads, and the latest step's
    // x̂₀ (the preview's source) stays intact while the next step runs. No latents are allocated
    // per step then, which spares the garbage collector most of a job's work.
    const stepBuffers = schedulers[0].stepInto ? generators.map(() => [freshStepBuffers(latentSize), freshStepBuffers(latentSize)]) : undefined;
    for (let stepIndex = 0; stepIndex < timesteps.length; stepIndex++) {
      throwIfAborted();
      const t = timesteps[stepIndex];
      const input = latentInput?.values ?? new Float32Array(batch * latentSize);
      for (let i = 0; i < count; i++) {
        // Scaled straight into the input; a scheduler that does not scale returns the latents.
        const row = input.subarray(i * latentSize, (i + 1) * latentSize);
        const scaled = schedulers[i].scaleModelInput(latents[i], t, row);
        if (scaled !== row) row.set(scaled);
        if (guided) input.copyWithin((count + i) * latentSize, i * latentSize, (i + 1) * latentSize);
      }
      const unetIn = inpainter ? inpainter.unetSample(input, count) : input;
      const sample = latentInput && unetIn === input ? latentInput.feed() : floatTensor(unetDtype, unetIn, sampleDims);
      const feeds: Record<string, ort.Tensor> = {
        [unetSample.name]: sample,
        timestep: this.timestepTensor(t, batch),
        encoder_hidden_states: hiddenTensor,
        ...extraFeeds,
      };
      if (residualFeeds) {
        // The ControlNet sees the 4-channel latents, also with an inpainting UNet (as diffusers' inpaint pipeline).
        const r = await residualFeeds.forStep({ stepIndex, stepCount: timesteps.length, sample: input, timestep: t, hidden: hiddenTensor, extra: extraFeeds });
        Object.assign(feeds, r.feeds);
        if (r.ran) {
          this.stats.controlnetCalls++;
          this.stats.controlnetSteps.push(stepIndex);
        }
      }
      const fetched = unetOutput;
      const out = await this.run(this.unet, 'unet', feeds, batch, fetched && { [unetOut]: fetched.tensor });
      const noise = fetched ? fetched.read() : tensorToFloat32(out[unetOut] as ort.Tensor);
      // The first step's output gives the dtype and shape of the buffer the later steps write.
      if (reuse && !unetOutput) unetOutput = new ReusedOutput(out[unetOut] as ort.Tensor);

      let firstX0: Float32Array | undefined;
      for (let i = 0; i < count; i++) {
        let res: StepOutput;
        const into = stepBuffers?.[i][stepIndex & 1];
        if (into) {
          // Guidance is combined inside the step's single pass (GuidedOutput); the output
          // buffer is only read there, so no copy of it either.
          const out: ModelOutput = guided
            ? { batch: noise, uncondOffset: i * latentSize, condOffset: (count + i) * latentSize, scale: g }
            : noise.subarray(i * latentSize, (i + 1) * latentSize);
          res = schedulers[i].stepInto!(out, t, latents[i], into, generators[i]);
        } else {
          let pred: Float32Array;
          if (guided) {
            // A fresh array: multistep schedulers keep the model outputs they are given.
            pred = new Float32Array(latentSize);
            const u = i * latentSize;
            const c = (count + i) * latentSize;
            for (let k = 0; k < latentSize; k++) {
              const nu = noise[u + k];
              pred[k] = nu + g * (noise[c + k] - nu);
            }
          } else {
            // The output buffer is rewritten next step: the scheduler gets its own copy.
            const rows = noise.subarray(i * latentSize, (i + 1) * latentSize);
            pred = fetched ? rows.slice() : rows;
          }
          res = schedulers[i].step(pred, t, latents[i], generators[i]);
        }
        // 4-channel inpainting puts the known region back after every step.
        latents[i] = inpainter ? inpainter.afterStep(i, stepIndex, res.prevSample) : res.prevSample;
        if (i === 0) firstX0 = res.predOriginalSample;
      }
      const step = completedStep(stepIndex);
      if (step !== undefined && opts.onProgress) opts.onProgress(progressOf(step, runSteps, firstX0 ?? latents[0], lw, lh, channels));
    }
    throwIfAborted();

    const decoded = await decodeLatents(
      latents,
      lh,
      lw,
      this.model.vaeScalingFactor,
      (x, n, h, w) => this.decode(x, n, h, w),
      this.memory,
      this.model.vaeShiftFactor,
    );
    const pasted = inpainter ? inpainter.pasteOver(decoded) : decoded;
    const rgbs = imageStart?.pasteBack ? await imageStart.pasteBack(pasted) : pasted;
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
  ): Promise<RawGenerationResult> {
    const images: RawImage[] = [];
    // The checker only flags (GeneratedImage.nsfw); what to do with a flagged picture is the caller's call.
    const nsfw = await this.safetyChecker?.check(
      Array.from({ length: count }, (_, i) => rgbs[i] ?? rgbs[0]),
      req.width,
      req.height,
    );
    for (let i = 0; i < count; i++) {
      const rgb = rgbs[i] ?? rgbs[0];
      const seed = req.seed + i;
      const parameters = withLoraHashes(
        formatParameters({
          prompt: req.prompt,
          negativePrompt: req.negativePrompt,
          seed,
          steps: req.steps,
          scheduler,
          guidanceScale: req.guidanceScale,
          width: req.width,
          height: req.height,
          model: this.model.name,
          strength: defaultStrength(req),
          inpaintPadding: req.inpaintArea === 'masked' ? (req.inpaintPadding ?? DEFAULT_INPAINT_PADDING) : undefined,
          controlnet: req.controlnet && {
            module: req.controlnet.preprocessor ?? 'canny',
            model: basename(req.controlnet.model),
            weight: req.controlnet.scale ?? 1,
            guidanceStart: req.controlnet.guidanceStart ?? 0,
            guidanceEnd: req.controlnet.guidanceEnd ?? 1,
            thresholds:
              (req.controlnet.preprocessor ?? 'canny') === 'canny'
                ? [req.controlnet.cannyLow ?? CANNY_DEFAULTS.low, req.controlnet.cannyHigh ?? CANNY_DEFAULTS.high]
                : undefined,
          },
        }),
        this.loraReports,
      );
      images.push({ rgb, parameters, seed, width: req.width, height: req.height, nsfw: nsfw?.[i] });
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
    /** Outputs to write into (the UNet's per-job buffer) or to fetch alone; all of them by default. */
    fetches?: ort.InferenceSession.FetchesType,
  ): Promise<ort.InferenceSession.ReturnType> {
    const t0 = performance.now();
    let out: ort.InferenceSession.ReturnType;
    try {
      out = await (fetches ? s.session.run(feeds, fetches) : s.session.run(feeds));
    } catch (err) {
      throw new ModelError(
        `${part === 'unet' && this.sd3 ? 'transformer' : part} failed: ${firstLine(err)}. If the size is not a multiple of 64, try one that is; otherwise the model export may be broken.`,
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

  /** The UNet's timestep as its graph declares it: int64 or float, [batch], [1] or rank 0. */
  private timestepTensor(t: number, batch: number): ort.Tensor {
    return timestepTensor(requireInput(this.unet, 'unet', ['timestep']), 'unet', t, batch);
  }

  /** One VAE decoder call on `n` latents, already divided by the scaling factor (vae-decode.ts picks the batching). */
  private async decode(scaled: Float32Array, n: number, lh: number, lw: number): Promise<Float32Array> {
    const meta = requireInput(this.vaeDecoder, 'vae_decoder', ['latent_sample']);
    const out = await this.run(this.vaeDecoder, 'vae', {
      [meta.name]: floatTensor(floatType(meta), scaled, [n, this.model.latentChannels, lh, lw]),
    });
    return tensorToFloat32(out[requireOutput(this.vaeDecoder, 'vae_decoder', ['sample'])] as ort.Tensor);
  }

  /** One vae_encoder call; sampling a latent_parameters output, with each image's generator, is img2img.ts's job. */
  private async encodeImage(chw: Float32Array, lh: number, lw: number): Promise<EncodedImage> {
    if (!this.model.files.vaeEncoder) {
      throw new ModelError(`Model ${this.model.name} has no vae_encoder/model.onnx, which image-to-image and inpainting need. Re-download the full model.`);
    }
    this.vaeEncoder ??= await createSession(this.model.files.vaeEncoder, this.dev, 'vae_encoder', { releaseWhenIdle: this.memory.releaseSessions });
    const enc = this.vaeEncoder;
    const meta = requireInput(enc, 'vae_encoder', ['sample']);
    const out = await this.run(enc, 'vae', {
      [meta.name]: floatTensor(floatType(meta), chw, [1, 3, lh * VAE_SCALE, lw * VAE_SCALE]),
    });
    const output = requireOutput(enc, 'vae_encoder', ['latent_sample', 'latent_parameters']) as EncodedImage['output'];
    return { output, data: tensorToFloat32(out[output] as ort.Tensor) };
  }
}

/**
 * Promise.all that waits for every load even when one fails, then throws the first error: the
 * caller releases every session that did start (a broken model folder must not leave native
 * sessions behind).
 */
async function settleAll<T extends readonly unknown[]>(loads: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(loads);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
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

/** Appends A1111's `Lora hashes` field to the parameters' last line. */
function withLoraHashes(params: string, loras: readonly LoraReport[]): string {
  const field = loraHashesField(loras);
  return field ? `${params}, ${field}` : params;
}

/** Load options plus the LoRAs to merge into the model (each set is its own pipeline). */
export interface PipelineOptions extends PipelineLoadOptions {
  loras?: readonly LoraSpec[];
  /** Textual-inversion embeddings to make available by name (embeddings.ts listEmbeddings). */
  embeddings?: readonly EmbeddingFile[];
}

const cache = new Map<string, Promise<StableDiffusionPipeline>>();

/**
 * Contract: one pipeline (and so one set of sessions) per model folder, device and memory
 * options; later calls reuse it until `dispose`.
 */
export async function loadPipeline(modelDir: string, opts: PipelineOptions = {}): Promise<StableDiffusionPipeline> {
  const key = `${inspectModel(modelDir).dir}|${deviceLabel(parseDevice(opts.device ?? 'cpu'))}|${memoryOptionsKey(resolveMemoryOptions(opts))}|${lorasKey(opts.loras ?? [])}|${(opts.embeddings ?? []).map((e) => e.path).join(';')}`;
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

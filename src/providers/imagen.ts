// LEGACY: Google Imagen, which Google has shut down (all Imagen models, Developer API and Vertex
// AI alike; see src/config/google.ts). The cloud provider is GeminiImageProvider (gemini.ts); this
// one is only used for an explicit GOOGLE_IMAGE_MODEL=imagen-… id, for owners Google still serves.
//
// Transport: the installed @google/genai (2.x) serves models.generateImages only on its
// "enterprise" backend (Gemini Enterprise Agent Platform, formerly Vertex AI); on the Gemini
// Developer API backend it throws, and Google has retired Imagen there. So the client runs in
// enterprise express mode, authenticated by the API key alone:
//   POST {base}/v1beta1/publishers/google/models/{model}:predict   (x-goog-api-key: …)
//   {instances: [{prompt}], parameters: {sampleCount, aspectRatio, …}}
// The SDK's own retry is left off: retries here are bounded by the owner's time budget.
import { performance } from 'node:perf_hooks';
import { GoogleGenAI, type GenerateImagesResponse } from '@google/genai';
import { GenerationAbortedError } from '../diffusion/errors.js';
import { formatParameters } from '../diffusion/png.js';
import type { GeneratedImage, GenerateOptions, GenerationRequest } from '../diffusion/types.js';
import { imagenLabel, type ImagenConfig } from './imagen-config.js';
import { readImagenResponse, toLocalStylePng, type ImagenSlot } from './imagen-decode.js';
import { classifyImagenError } from './imagen-errors.js';
import { imagenUnsupported, planImagenRequest, type ImagenCall, type ImagenPlan } from './imagen-request.js';
import { attemptWithTimeout, withRetry, type RetryPolicy } from './google-retry.js';
import { ProviderError, UNKNOWN_SEED, type ImageProvider, type ProviderResult } from './types.js';

export type { ImagenConfig } from './imagen-config.js';

export interface ImagenProviderOptions {
  /** Jitter source for backoff (tests make it deterministic). */
  random?: () => number;
}

export class ImagenProvider implements ImageProvider {
  readonly id = 'imagen' as const;
  readonly label: string;
  readonly model: string;
  /** Imagen's :predict path takes no input image. */
  readonly edits = false;
  private readonly ai?: GoogleGenAI;
  private readonly retry: RetryPolicy;

  constructor(
    private readonly config: ImagenConfig,
    options: ImagenProviderOptions = {},
  ) {
    this.model = config.model;
    this.label = imagenLabel(config.model);
    this.retry = {
      timeoutMs: config.timeoutMs,
      maxRetryMs: config.maxRetryMs,
      backoffInitialMs: config.backoffInitialMs,
      backoffMaxMs: config.backoffMaxMs,
      maxAttempts: config.maxAttempts,
      ...(options.random ? { random: options.random } : {}),
    };
    if (config.apiKey) {
      // Explicit apiKey and backend flag, so GOOGLE_CLOUD_PROJECT / GOOGLE_GENAI_USE_* in the
      // environment cannot switch the SDK to another auth path behind the owner's back.
      this.ai = new GoogleGenAI({
        enterprise: true,
        apiKey: config.apiKey,
        ...(config.baseUrl ? { httpOptions: { baseUrl: config.baseUrl } } : {}),
      });
    }
  }

  /** False until GOOGLE_API_KEY is set; callers can skip Imagen without trying it. */
  get configured(): boolean {
    return this.ai !== undefined;
  }

  unsupported(req: GenerationRequest): string | undefined {
    return imagenUnsupported(req);
  }

  async generate(req: GenerationRequest, opts: GenerateOptions = {}): Promise<ProviderResult> {
    const ai = this.ai;
    if (!ai) {
      throw new ProviderError({
        kind: 'auth',
        retryable: false,
        userMessage: 'Imagen is not set up: the bot owner has not set GOOGLE_API_KEY.',
      });
    }
    const why = imagenUnsupported(req);
    if (why) throw new ProviderError({ kind: 'config', retryable: false, userMessage: why });
    if (opts.signal?.aborted) throw new GenerationAbortedError();

    const started = performance.now();
    const plan = planImagenRequest(req, this.config);
    const slots = await this.runCalls(ai, req, plan, opts.signal);

    const images: GeneratedImage[] = [];
    const filtered: ProviderResult['filtered'] = [];
    for (const [index, { slot, seed }] of slots.entries()) {
      if (slot.kind === 'filtered') {
        filtered.push({ index, reason: slot.reason });
        continue;
      }
      const { png, width, height } = await toLocalStylePng(slot.bytes, (width, height) =>
        formatParameters({
          prompt: req.prompt,
          ...(plan.negativePromptSent && req.negativePrompt ? { negativePrompt: req.negativePrompt } : {}),
          seed,
          // Imagen exposes no steps, sampler or CFG scale: 0 and 'imagen' mark them as not applicable.
          steps: 0,
          scheduler: 'imagen',
          guidanceScale: 0,
          width,
          height,
          model: plan.model,
        }),
      );
      images.push({ png, seed, width, height });
    }
    if (images.length === 0) {
      const reasons = [...new Set(filtered.map((f) => f.reason))].join('; ');
      const what = req.count === 1 ? 'the image' : `all ${req.count} images`;
      throw new ProviderError({
        kind: 'filtered',
        retryable: false,
        userMessage: `Google's filters withheld ${what}: ${reasons}`,
      });
    }
    const totalMs = performance.now() - started;
    return {
      images,
      truncatedTokens: 0,
      timings: { totalMs, textEncoderMs: 0, unetMs: 0, vaeMs: 0, stepMs: 0 },
      provider: 'imagen',
      model: plan.model,
      notes: plan.notes,
      filtered,
    };
  }

  /** All calls of the plan, in parallel (the first failure cancels the rest); one slot per requested image. */
  private async runCalls(ai: GoogleGenAI, req: GenerationRequest, plan: ImagenPlan, signal?: AbortSignal): Promise<{ slot: ImagenSlot; seed: number }[]> {
    const group = new AbortController();
    const onAbort = () => group.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const perCall = await Promise.all(
        plan.calls.map(async (call) => {
          const response = await withRetry(this.retry, (a) => this.callOnce(ai, req, plan, call, a.timeoutMs, group.signal), group.signal);
          // Seeded calls carry one image each, so the call's seed is that image's seed.
          return readImagenResponse(response, call.count).map((slot) => ({ slot, seed: call.seed ?? UNKNOWN_SEED }));
        }),
      ).catch((err: unknown) => {
        group.abort();
        throw err;
      });
      return perCall.flat();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async callOnce(
    ai: GoogleGenAI,
    req: GenerationRequest,
    plan: ImagenPlan,
    call: ImagenCall,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<GenerateImagesResponse> {
    return attemptWithTimeout(
      { service: 'Imagen', timeoutMs, perTryMs: this.config.timeoutMs, signal, classify: (err) => classifyImagenError(err, plan.model) },
      (abortSignal) =>
        ai.models.generateImages({
          model: plan.model,
          prompt: req.prompt,
          config: { ...plan.config, numberOfImages: call.count, ...(call.seed === undefined ? {} : { seed: call.seed }), abortSignal },
        }),
    );
  }
}

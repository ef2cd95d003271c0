// The cloud provider: Google's Gemini image models ("Nano Banana") through @google/genai's
// models.generateContent with an image response, the call Google's image-generation guide
// (https://ai.google.dev/gemini-api/docs/image-generation) and its Imagen migration guide
// (https://firebase.google.com/docs/ai-logic/imagen-models-migration) name for these models.
// Same request in, same result shape out as the local engine, with what differs said honestly:
// - one image per call, so a job of `count` images makes `count` calls, run in parallel but never
//   more than `concurrency` at once over all jobs (IMAGEN_CONCURRENCY);
// - the size is an aspect ratio and a resolution (1K, 2K…), not pixels: the nearest is used, noted;
// - no seed: images carry UNKNOWN_SEED and the embed says so;
// - a call may be refused (blocked prompt, finishReason IMAGE_SAFETY) or answered with text
//   only: that image is withheld with the model's reason, and a job with no image fails with it;
// - billing is per token: usageMetadata of every call is summed into the result's `usage`;
// - an input image (img2img) is sent with the prompt: a real edit by the model.
// Backends (the SDK's own options): Gemini Developer API with GOOGLE_API_KEY, or Vertex AI with
// `vertexai: true`, in express mode (API key) or with a project and location. The SDK's own
// retry is left off: retries here are bounded by the owner's time budget (imagen-retry.ts).
import { performance } from 'node:perf_hooks';
import { GoogleGenAI, type GenerateContentResponse } from '@google/genai';
import PQueue from 'p-queue';
import { GenerationAbortedError } from '../diffusion/errors.js';
import { formatParameters } from '../diffusion/png.js';
import type { GeneratedImage, GenerateOptions, GenerationRequest } from '../diffusion/types.js';
import { googleConfigured, type GoogleImageConfig } from '../config/google.js';
import { addUsage, NO_USAGE, readGeminiAnswer, type GeminiAnswer } from './gemini-decode.js';
import { geminiLabel } from './gemini-models.js';
import { geminiContents, geminiUnsupported, planGeminiRequest, type GeminiPlan } from './gemini-request.js';
import { toLocalStylePng } from './imagen-decode.js';
import { classifyGoogleError } from './imagen-errors.js';
import { attemptWithTimeout, withRetry, type RetryPolicy } from './google-retry.js';
import { ProviderError, UNKNOWN_SEED, type ImageProvider, type ProviderResult, type ProviderUsage } from './types.js';

export interface GeminiProviderOptions {
  /** generateContent calls in flight at once over all jobs (IMAGEN_CONCURRENCY). Default 2. */
  concurrency?: number;
  /** Jitter source for backoff (tests make it deterministic). */
  random?: () => number;
}

const SERVICE = 'Gemini';

export class GeminiImageProvider implements ImageProvider {
  readonly id = 'imagen' as const;
  readonly label: string;
  readonly model: string;
  /** Gemini image models edit an input image: V and /imagine image: go to the model. */
  readonly edits = true;
  private readonly ai?: GoogleGenAI;
  private readonly retry: RetryPolicy;
  private readonly calls: PQueue;

  constructor(
    private readonly config: GoogleImageConfig,
    options: GeminiProviderOptions = {},
  ) {
    this.model = config.model;
    this.label = geminiLabel(config.model) + (config.thinkingLevel ? `, thinking ${config.thinkingLevel}` : '');
    this.calls = new PQueue({ concurrency: options.concurrency ?? 2 });
    this.retry = {
      timeoutMs: config.timeoutMs,
      maxRetryMs: config.maxRetryMs,
      backoffInitialMs: config.backoffInitialMs,
      backoffMaxMs: config.backoffMaxMs,
      maxAttempts: config.maxAttempts,
      ...(options.random ? { random: options.random } : {}),
    };
    if (googleConfigured(config)) {
      // Explicit backend options, so GOOGLE_GENAI_USE_VERTEXAI / GOOGLE_CLOUD_* in the environment
      // cannot switch the SDK to another auth path behind what config says.
      const httpOptions = config.baseUrl ? { httpOptions: { baseUrl: config.baseUrl } } : {};
      if (config.vertex && !config.apiKey) {
        this.ai = new GoogleGenAI({ vertexai: true, project: config.vertex.project!, location: config.vertex.location ?? 'global', ...httpOptions });
      } else {
        this.ai = new GoogleGenAI({ vertexai: Boolean(config.vertex), apiKey: config.apiKey!, ...httpOptions });
      }
    }
  }

  /** False until GOOGLE_API_KEY (or a Vertex AI project) is set; callers can skip the cloud without trying it. */
  get configured(): boolean {
    return this.ai !== undefined;
  }

  unsupported(req: GenerationRequest): string | undefined {
    return geminiUnsupported(req);
  }

  async generate(req: GenerationRequest, opts: GenerateOptions = {}): Promise<ProviderResult> {
    const ai = this.ai;
    if (!ai) {
      throw new ProviderError({
        kind: 'auth',
        retryable: false,
        userMessage: 'The cloud provider is not set up: the bot owner has not set GOOGLE_API_KEY.',
      });
    }
    const why = geminiUnsupported(req);
    if (why) throw new ProviderError({ kind: 'config', retryable: false, userMessage: why });
    if (opts.signal?.aborted) throw new GenerationAbortedError();

    const started = performance.now();
    const plan = planGeminiRequest(req, this.config);
    const answers = await this.runCalls(ai, req, plan, opts.signal);
    const usage = answers.reduce<ProviderUsage>((sum, a) => addUsage(sum, a.usage), NO_USAGE);

    const images: GeneratedImage[] = [];
    const filtered: ProviderResult['filtered'] = [];
    for (const [index, answer] of answers.entries()) {
      if (answer.kind === 'refused') {
        filtered.push({ index, reason: answer.reason });
        continue;
      }
      const { png, width, height } = await toLocalStylePng(answer.bytes, (width, height) =>
        formatParameters({
          prompt: req.prompt,
          seed: UNKNOWN_SEED,
          // Gemini exposes no steps, sampler or CFG scale: 0 and 'gemini' mark them as not applicable.
          steps: 0,
          scheduler: 'gemini',
          guidanceScale: 0,
          width,
          height,
          model: plan.model,
        }),
      );
      images.push({ png, seed: UNKNOWN_SEED, width, height });
    }
    if (images.length === 0) {
      const reasons = [...new Set(filtered.map((f) => f.reason))].join('; ');
      const what = req.count === 1 ? 'no image' : `none of the ${req.count} images`;
      throw new ProviderError({ kind: 'filtered', retryable: false, userMessage: `${geminiLabel(plan.model)} drew ${what}: ${reasons}.`, usage });
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
      usage,
    };
  }

  /** One call per image through the shared call queue (the first failure cancels the rest). */
  private async runCalls(ai: GoogleGenAI, req: GenerationRequest, plan: GeminiPlan, signal?: AbortSignal): Promise<GeminiAnswer[]> {
    const contents = await geminiContents(req);
    const group = new AbortController();
    const onAbort = () => group.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.all(
        Array.from({ length: plan.calls }, () =>
          this.calls.add(
            async () => {
              const response = await withRetry(this.retry, (a) => this.callOnce(ai, plan, contents, a.timeoutMs, group.signal), group.signal);
              return readGeminiAnswer(response);
            },
            { signal: group.signal },
          ),
        ),
      ).catch((err: unknown) => {
        group.abort();
        if (signal?.aborted) throw new GenerationAbortedError();
        throw err;
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async callOnce(
    ai: GoogleGenAI,
    plan: GeminiPlan,
    contents: Awaited<ReturnType<typeof geminiContents>>,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<GenerateContentResponse> {
    return attemptWithTimeout(
      { service: 'Gemini', timeoutMs, perTryMs: this.config.timeoutMs, signal, classify: (err) => classifyGoogleError(err, plan.model, SERVICE) },
      (abortSignal) => ai.models.generateContent({ model: plan.model, contents, config: { ...plan.config, abortSignal } }),
    );
  }
}

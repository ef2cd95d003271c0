// A local stand-in for Google's image APIs on 127.0.0.1, faithful enough that the real
// @google/genai client parses its answers unmodified:
// - Gemini image models (the cloud provider), what models.generateContent sends on the Developer
//   API and on Vertex AI (express mode):
//     POST /{v1beta|v1beta1|v1}/{models|publishers/google/models}/{model}:generateContent
//     ← {contents: [{role, parts: [{text} | {inlineData: {mimeType, data}}]}],
//        generationConfig: {responseModalities, candidateCount, imageConfig: {aspectRatio, imageSize?}, thinkingConfig?}}
//     → {candidates: [{content: {role: 'model', parts: [{text}?, {inlineData}]}, finishReason}],
//        promptFeedback?, usageMetadata, modelVersion, responseId}
//   Served images: the ratio's size at 1K/2K/… divided by `scale`; their colour is standInColour(…),
//   or for an edit (an inlineData part in the request) the negative of the input's top-left pixel.
// - Imagen's :predict (legacy, shut down by Google):
//     POST /{v1beta1|v1|v1beta}/{publishers/google/models|models}/{model}:predict
//     ← {instances: [{prompt}], parameters: {sampleCount, aspectRatio, …}}
//     → {predictions: [{bytesBase64Encoded, mimeType} | {raiFilteredReason}]}
// Errors use Google's body: {error: {code, message, status, details?}}. Each call (of either kind)
// takes the next scripted reply (then `fallback`); a missing or wrong x-goog-api-key is refused first.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export type ImagenReply =
  /** :predict: images (PNG unless `format`), then one {raiFilteredReason} entry per `filtered` reason. */
  | { kind: 'images'; count?: number; filtered?: string[]; format?: 'png' | 'jpeg' }
  /** :generateContent: one image part (PNG unless `format`), after a text part when `text` is given; `thought` adds a thought image first. */
  | { kind: 'image'; text?: string; format?: 'png' | 'jpeg'; thought?: boolean }
  /** :generateContent: a text-only answer (finishReason STOP). */
  | { kind: 'text'; text: string }
  /** :generateContent: the prompt was blocked (promptFeedback.blockReason, no candidates). */
  | { kind: 'blocked'; reason?: string; message?: string }
  /** :generateContent: a candidate that stopped without an image (e.g. IMAGE_SAFETY). */
  | { kind: 'stopped'; finishReason: string; message?: string }
  /** A Google-style error; message/status default to what Google says for that HTTP status. */
  | { kind: 'error'; httpStatus: number; message?: string; status?: string; retryDelay?: string }
  /** 200 with a body that is not JSON, labelled as JSON. */
  | { kind: 'garbage'; body?: string }
  /** 200 with this JSON body, as is. */
  | { kind: 'json'; body: unknown }
  /** Wait, then answer with `then` (default: images). */
  | { kind: 'delay'; ms: number; then?: ImagenReply };

export interface GoogleStandInOptions {
  /** Accepted key; others get 400 API_KEY_INVALID, none gets 401. Default 'test-key'. */
  apiKey?: string;
  replies?: ImagenReply[];
  /** Reply once `replies` are used up. Default: images (:predict) or one image (:generateContent). */
  fallback?: ImagenReply;
  /** Served images are the 1K sizes divided by this (default 16: 1:1 → 64x64). */
  scale?: number;
}

export interface RecordedGoogleRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (undefined when it was not JSON). */
  body: unknown;
  /** Model id from the path. */
  model?: string;
  /** Which method the path names. */
  method_?: 'predict' | 'generateContent';
  /** ms since the stand-in started. */
  at: number;
}

export interface GoogleStandIn {
  /** Pass as GOOGLE_API_BASE_URL / httpOptions.baseUrl. */
  baseUrl: string;
  apiKey: string;
  requests: RecordedGoogleRequest[];
  /** Only the :predict calls that got past the key check. */
  predictCalls(): RecordedGoogleRequest[];
  /** Only the :generateContent calls that got past the key check. */
  generateCalls(): RecordedGoogleRequest[];
  enqueue(...replies: ImagenReply[]): void;
  close(): Promise<void>;
}

/** Imagen's 1K output sizes per aspect ratio. */
export const IMAGEN_1K_SIZES: Record<string, [number, number]> = {
  '1:1': [1024, 1024],
  '3:4': [896, 1280],
  '4:3': [1280, 896],
  '9:16': [768, 1408],
  '16:9': [1408, 768],
};

const DEFAULT_ERRORS: Record<number, [string, string]> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  403: ['PERMISSION_DENIED', 'Permission denied on resource.'],
  404: ['NOT_FOUND', 'Publisher Model was not found or your project does not have access to it.'],
  429: [
    'RESOURCE_EXHAUSTED',
    'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: imagen-4.0-fast-generate. Please submit a quota increase request.',
  ],
  500: ['INTERNAL', 'Internal error encountered.'],
  503: ['UNAVAILABLE', 'The service is currently unavailable.'],
  504: ['DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'],
};

const MODEL_PATH = /^\/(v1beta1|v1beta|v1)\/(?:publishers\/google\/models|models)\/([^/:]+):(predict|generateContent)$/;

/** Gemini image sizes at 1K per aspect ratio (about a megapixel, sides multiples of 16); 2K doubles, 4K quadruples, 512 halves. */
export function geminiSize(aspectRatio: string, imageSize = '1K'): [number, number] {
  const [w, h] = aspectRatio.split(':').map(Number);
  const side = (x: number) => Math.round(x / 16) * 16;
  const scale = { '512': 0.5, '1K': 1, '2K': 2, '4K': 4 }[imageSize] ?? 1;
  const k = Math.sqrt((1024 * 1024) / (w * h));
  return [side(w * k) * scale, side(h * k) * scale];
}

/** Tokens the stand-in bills per call, like Google's usageMetadata (an image is 1290 output tokens at 1K). */
export const STAND_IN_USAGE = { promptTokenCount: 12, candidatesTokenCount: 1290, thoughtsTokenCount: 40, totalTokenCount: 1342 };

/** Colour of served image i: from the request's seed when it has one, so a seed reproduces it. */
export function standInColour(seed: number | undefined, index: number, call: number): { r: number; g: number; b: number } {
  const x = seed === undefined ? call * 97 + index * 31 : seed * 13 + index * 7;
  return { r: (x * 53) % 256, g: (x * 101 + 40) % 256, b: (x * 151 + 80) % 256 };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function googleError(httpStatus: number, status: string, message: string, details?: unknown[]) {
  return { error: { code: httpStatus, message, status, ...(details ? { details } : {}) } };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

interface GenerateBody {
  contents?: { role?: string; parts?: { text?: string; inlineData?: { mimeType?: string; data?: string } }[] }[];
  generationConfig?: { responseModalities?: string[]; imageConfig?: { aspectRatio?: string; imageSize?: string }; thinkingConfig?: { thinkingLevel?: string } };
}

interface PredictBody {
  instances?: { prompt?: string }[];
  parameters?: { sampleCount?: number; aspectRatio?: string; seed?: number };
}

export async function startGoogleStandIn(opts: GoogleStandInOptions = {}): Promise<GoogleStandIn> {
  const apiKey = opts.apiKey ?? 'test-key';
  const queue: ImagenReply[] = [...(opts.replies ?? [])];
  const fallback: ImagenReply = opts.fallback ?? { kind: 'images' };
  const scale = opts.scale ?? 16;
  const requests: RecordedGoogleRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  /** A `delay` reply's wait, cleared when the stand-in closes. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });
  const started = Date.now();
  let predictCount = 0;

  async function images(reply: Extract<ImagenReply, { kind: 'images' }>, body: PredictBody, call: number) {
    const params = body.parameters ?? {};
    const filtered = reply.filtered ?? [];
    const count = reply.count ?? Math.max(0, (params.sampleCount ?? 1) - filtered.length);
    const [w, h] = IMAGEN_1K_SIZES[params.aspectRatio ?? '1:1'] ?? IMAGEN_1K_SIZES['1:1'];
    const predictions: object[] = [];
    for (let i = 0; i < count; i++) {
      const img = sharp({
        create: { width: Math.round(w / scale), height: Math.round(h / scale), channels: 3, background: standInColour(params.seed, i, call) },
      });
      const bytes = reply.format === 'jpeg' ? await img.jpeg().toBuffer() : await img.png().toBuffer();
      predictions.push({ bytesBase64Encoded: bytes.toString('base64'), mimeType: reply.format === 'jpeg' ? 'image/jpeg' : 'image/png' });
    }
    for (const reason of filtered) predictions.push({ raiFilteredReason: reason });
    return { predictions };
  }

  async function answer(res: ServerResponse, reply: ImagenReply, body: PredictBody, call: number): Promise<void> {
    if (res.destroyed || !res.socket || res.socket.destroyed) return; // the client gave up (timeout) while we waited
    switch (reply.kind) {
      case 'images':
        return sendJson(res, 200, await images(reply, body, call));
      case 'json':
        return sendJson(res, 200, reply.body);
      case 'garbage': {
        const text = reply.body ?? '{"predictions": [{"bytesBase64Encoded": "iVBOR';
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        return void res.end(text);
      }
      case 'error': {
        const [status, message] = DEFAULT_ERRORS[reply.httpStatus] ?? ['UNKNOWN', 'Unknown error.'];
        const details = reply.retryDelay ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: reply.retryDelay }] : undefined;
        return sendJson(res, reply.httpStatus, googleError(reply.httpStatus, reply.status ?? status, reply.message ?? message, details));
      }
      case 'delay':
        await pause(reply.ms);
        return answer(res, reply.then ?? { kind: 'images' }, body, call);
      default:
        // A generateContent-only reply on :predict: Imagen would just draw.
        return sendJson(res, 200, await images({ kind: 'images' }, body, call));
    }
  }

  /** Colour of a generateContent image: an edit inverts its input's top-left pixel, else standInColour. */
  async function geminiColour(body: GenerateBody, call: number) {
    const input = body.contents?.flatMap((c) => c.parts ?? []).find((p) => p.inlineData?.data)?.inlineData?.data;
    if (!input) return standInColour(undefined, 0, call);
    const { data } = await sharp(Buffer.from(input, 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { r: 255 - data[0], g: 255 - data[1], b: 255 - data[2] };
  }

  async function generate(res: ServerResponse, reply: ImagenReply, body: GenerateBody, call: number): Promise<void> {
    if (res.destroyed || !res.socket || res.socket.destroyed) return;
    const usageMetadata = { ...STAND_IN_USAGE };
    const ok = (candidate: object) => sendJson(res, 200, { candidates: [candidate], usageMetadata, modelVersion: 'stand-in', responseId: `r${call}` });
    switch (reply.kind) {
      case 'image':
      case 'images': {
        const image = body.generationConfig?.imageConfig ?? {};
        const [w, h] = geminiSize(image.aspectRatio ?? '1:1', image.imageSize ?? '1K');
        const fmt = reply.format;
        const img = sharp({ create: { width: Math.round(w / scale), height: Math.round(h / scale), channels: 3, background: await geminiColour(body, call) } });
        const bytes = fmt === 'jpeg' ? await img.jpeg().toBuffer() : await img.png().toBuffer();
        const parts: object[] = [];
        if (reply.kind === 'image' && reply.thought) {
          const draft = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 2, b: 3 } } })
            .png()
            .toBuffer();
          parts.push({ inlineData: { mimeType: 'image/png', data: draft.toString('base64') }, thought: true });
        }
        if (reply.kind === 'image' && reply.text) parts.push({ text: reply.text });
        parts.push({ inlineData: { mimeType: fmt === 'jpeg' ? 'image/jpeg' : 'image/png', data: bytes.toString('base64') } });
        return ok({ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 });
      }
      case 'text':
        return ok({ content: { role: 'model', parts: [{ text: reply.text }] }, finishReason: 'STOP', index: 0 });
      case 'blocked':
        return sendJson(res, 200, {
          promptFeedback: { blockReason: reply.reason ?? 'SAFETY', ...(reply.message ? { blockReasonMessage: reply.message } : {}) },
          usageMetadata: { promptTokenCount: usageMetadata.promptTokenCount, totalTokenCount: usageMetadata.promptTokenCount },
          modelVersion: 'stand-in',
          responseId: `r${call}`,
        });
      case 'stopped':
        return ok({ finishReason: reply.finishReason, ...(reply.message ? { finishMessage: reply.message } : {}), index: 0 });
      case 'delay':
        await pause(reply.ms);
        return generate(res, reply.then ?? { kind: 'image' }, body, call);
      default:
        return answer(res, reply, {}, call);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? '/').split('?')[0];
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const match = MODEL_PATH.exec(path);
    const record: RecordedGoogleRequest = { method: req.method ?? '', path, headers: req.headers, body, at: Date.now() - started };
    if (match) {
      record.model = match[2];
      record.method_ = match[3] as 'predict' | 'generateContent';
    }
    requests.push(record);

    const key = req.headers['x-goog-api-key'];
    if (key === undefined) {
      return sendJson(res, 401, googleError(401, 'UNAUTHENTICATED', 'Request is missing required authentication credential.'));
    }
    if (key !== apiKey) {
      return sendJson(
        res,
        400,
        googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'API_KEY_INVALID',
            domain: 'googleapis.com',
            metadata: { service: 'aiplatform.googleapis.com' },
          },
        ]),
      );
    }
    if (!match || req.method !== 'POST') {
      return sendJson(res, 404, googleError(404, 'NOT_FOUND', `Method not found: ${req.method} ${path}`));
    }
    const call = predictCount++;
    if (match[3] === 'generateContent') return generate(res, queue.shift() ?? opts.fallback ?? { kind: 'image' }, (body ?? {}) as GenerateBody, call);
    await answer(res, queue.shift() ?? fallback, (body ?? {}) as PredictBody, call);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, googleError(500, 'INTERNAL', `stand-in failed: ${String(err)}`));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    requests,
    predictCalls: () => requests.filter((r) => r.method_ === 'predict' && r.headers['x-goog-api-key'] === apiKey),
    generateCalls: () => requests.filter((r) => r.method_ === 'generateContent' && r.headers['x-goog-api-key'] === apiKey),
    enqueue: (...replies) => void queue.push(...replies),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// A local stand-in for Google's Imagen predict endpoint on 127.0.0.1, faithful enough that the
// real @google/genai client parses its answers unmodified:
//   POST /{v1beta1|v1|v1beta}/{publishers/google/models|models}/{model}:predict
//   ← {instances: [{prompt}], parameters: {sampleCount, aspectRatio, …}}
//   → {predictions: [{bytesBase64Encoded, mimeType} | {raiFilteredReason}]}
// Errors use Google's body: {error: {code, message, status, details?}}. Each call takes the next
// scripted reply (then `fallback`); a missing or wrong x-goog-api-key is refused before that.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export type ImagenReply =
  /** Images (PNG unless `format`), then one {raiFilteredReason} entry per `filtered` reason. */
  | { kind: 'images'; count?: number; filtered?: string[]; format?: 'png' | 'jpeg' }
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
  /** Reply once `replies` are used up. Default: images. */
  fallback?: ImagenReply;
  /** Served images are Imagen's 1K sizes divided by this (default 16: 1:1 → 64x64). */
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

const PREDICT_PATH = /^\/(v1beta1|v1beta|v1)\/(?:publishers\/google\/models|models)\/([^/:]+):predict$/;

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
        const details = reply.retryDelay
          ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: reply.retryDelay }]
          : undefined;
        return sendJson(res, reply.httpStatus, googleError(reply.httpStatus, reply.status ?? status, reply.message ?? message, details));
      }
      case 'delay':
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, reply.ms);
          timers.add(t);
        });
        return answer(res, reply.then ?? { kind: 'images' }, body, call);
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
    const match = PREDICT_PATH.exec(path);
    const record: RecordedGoogleRequest = { method: req.method ?? '', path, headers: req.headers, body, at: Date.now() - started };
    if (match) record.model = match[2];
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
    predictCalls: () => requests.filter((r) => r.model !== undefined && r.headers['x-goog-api-key'] === apiKey),
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

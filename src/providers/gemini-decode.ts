// Reads one generateContent answer: the image part (the last one that is not a "thought"), or
// why there is none: the prompt was blocked (promptFeedback.blockReason), the model stopped for
// a reason (finishReason IMAGE_SAFETY, …), or it answered with text only. Token counts come from
// usageMetadata. Fields per https://ai.google.dev/api/generate-content#generatecontentresponse.
import { z } from 'zod';
import type { ProviderUsage } from './types.js';
import { ProviderError } from './types.js';

const partSchema = z.object({
  text: z.string().optional(),
  thought: z.boolean().optional(),
  inlineData: z.object({ mimeType: z.string().optional(), data: z.string().optional() }).optional(),
});

const responseSchema = z.object({
  candidates: z
    .array(
      z.object({
        content: z.object({ parts: z.array(partSchema).optional() }).optional(),
        finishReason: z.string().optional(),
        finishMessage: z.string().optional(),
      }),
    )
    .optional(),
  promptFeedback: z.object({ blockReason: z.string().optional(), blockReasonMessage: z.string().optional() }).optional(),
  usageMetadata: z
    .object({
      promptTokenCount: z.number().optional(),
      candidatesTokenCount: z.number().optional(),
      thoughtsTokenCount: z.number().optional(),
      totalTokenCount: z.number().optional(),
    })
    .optional(),
});

export type GeminiAnswer =
  | { kind: 'image'; bytes: Buffer; mimeType: string; text?: string; usage: ProviderUsage }
  | { kind: 'refused'; reason: string; usage: ProviderUsage };

export const NO_USAGE: ProviderUsage = { calls: 0, promptTokens: 0, outputTokens: 0, thoughtsTokens: 0, totalTokens: 0 };

export function addUsage(a: ProviderUsage, b: ProviderUsage): ProviderUsage {
  return {
    calls: a.calls + b.calls,
    promptTokens: a.promptTokens + b.promptTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    thoughtsTokens: a.thoughtsTokens + b.thoughtsTokens,
    totalTokens: a.totalTokens + b.totalTokens,
  };
}

const quote = (text: string) => `“${text.length > 300 ? `${text.slice(0, 299)}…` : text}”`;

export function readGeminiAnswer(response: unknown): GeminiAnswer {
  const parsed = responseSchema.safeParse(response);
  if (!parsed.success) {
    throw new ProviderError({
      kind: 'malformed',
      retryable: false,
      userMessage: 'Gemini sent back a reply the bot could not read.',
      message: `Malformed Gemini response: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    });
  }
  const r = parsed.data;
  const u = r.usageMetadata ?? {};
  const usage: ProviderUsage = {
    calls: 1,
    promptTokens: u.promptTokenCount ?? 0,
    outputTokens: u.candidatesTokenCount ?? 0,
    thoughtsTokens: u.thoughtsTokenCount ?? 0,
    totalTokens: u.totalTokenCount ?? 0,
  };
  const block = r.promptFeedback?.blockReason;
  if (block) {
    const why = r.promptFeedback?.blockReasonMessage;
    return { kind: 'refused', reason: `Google blocked the prompt (${block}${why ? `: ${why}` : ''})`, usage };
  }
  const candidate = r.candidates?.[0];
  const parts = (candidate?.content?.parts ?? []).filter((p) => !p.thought);
  const text = parts
    .map((p) => p.text?.trim() ?? '')
    .filter(Boolean)
    .join(' ');
  const image = parts.filter((p) => p.inlineData?.data && (p.inlineData.mimeType ?? 'image/').startsWith('image/')).at(-1);
  if (image?.inlineData?.data) {
    return {
      kind: 'image',
      bytes: Buffer.from(image.inlineData.data, 'base64'),
      mimeType: image.inlineData.mimeType ?? 'image/png',
      ...(text ? { text } : {}),
      usage,
    };
  }
  const finish = candidate?.finishReason;
  if (finish && finish !== 'STOP') {
    const why = candidate?.finishMessage;
    return { kind: 'refused', reason: `the model stopped without an image (${finish}${why ? `: ${why}` : ''})${text ? `, saying ${quote(text)}` : ''}`, usage };
  }
  if (text) return { kind: 'refused', reason: `the model answered with text only: ${quote(text)}`, usage };
  return { kind: 'refused', reason: 'the model sent no image and gave no reason', usage };
}

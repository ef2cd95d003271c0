// What a job looks like on Discord: the status lines while it waits and runs, the result embed
// (Discord strips PNG metadata, so every parameter is spelled out here and behind ℹ️), and the
// button rows. Pure functions over the job record, returning raw API JSON for REST calls.
import {
  ButtonStyle,
  ComponentType,
  type APIActionRowComponent,
  type APIButtonComponentWithCustomId,
  type APIComponentInMessageActionRow,
  type APIEmbed,
  type APIEmbedField,
} from 'discord.js';
import type { JobRecord, QueuePosition } from '../queue/types.js';
import type { MessageSource } from '../jobs/types.js';
import { encodeCustomId, type ButtonAction } from './custom-id.js';
import { cloudModelText, cloudNotes, cloudProviderName, cloudSeedText, cloudStatusLine, isCloudJob, localFailureBehind, seedsUnknown } from './cloud-embed.js';
import { escapeUserLine, escapeUserText } from './escape.js';
import { formatDuration } from '../durations.js';
import { EDIT_ROWS, editTitle, isEditAction } from './edit-catalog.js';
import { lorasRecord, lorasText } from './lora-options.js';
import { controlNetSummary } from './controlnet-options.js';
import { inpaintSummary } from './inpaint-options.js';

export type ActionRow = APIActionRowComponent<APIComponentInMessageActionRow>;

const EMBED_COLOR = 0x5865f2;

/** The prompt for a one-line status, shortened and inert (escape.ts: no links, headings, mentions). */
export function shortPrompt(prompt: string, max = 180): string {
  return escapeUserLine(prompt, max);
}

/** What made this job, by the tool's name ("Zoom Out 2×"); undefined for U, V, 🔄 and /imagine. */
export function editToolTitle(job: Pick<JobRecord, 'parent'> & { request?: Pick<JobRecord['request'], 'edit'> }): string | undefined {
  const action = job.parent?.action;
  return isEditAction(action) ? editTitle(action, job.request?.edit) : undefined;
}

/** "upscale ×2 of image 3", "variation of image 1", "Zoom Out 2× of image 1", "Remix of image 2", "" for a plain /imagine. */
export function jobTitle(job: Pick<JobRecord, 'kind' | 'parent' | 'upscaleFactor' | 'source'> & { request?: Pick<JobRecord['request'], 'edit'> }): string {
  const n = job.parent ? job.parent.imageIndex + 1 : undefined;
  const tool = editToolTitle(job);
  if (tool) return `${tool} of image ${n}`;
  if (job.source) return sourceTitle(job.source);
  // Remixed (the prompt edited in a form first): "Remix of image 2", "Remix with new seeds".
  if (job.parent?.action?.startsWith('remix_')) return job.parent.action === 'remix_reroll' ? 'Remix with new seeds' : `Remix of image ${n}`;
  if (job.kind === 'upscale') return `Upscale ×${job.upscaleFactor ?? 2}${n ? ` of image ${n}` : ''}`;
  // Variations are image-to-image: locally from the image, in the cloud an edit of it by the model.
  if (job.parent) return `Variation of image ${n}`;
  return '';
}

function headline(job: JobRecord): string {
  const title = jobTitle(job);
  return `**${shortPrompt(job.request.prompt)}**${title ? ` · ${title}` : ''} — <@${job.requester.userId}>`;
}

export function queuedContent(job: JobRecord, pos: QueuePosition, note?: string): string {
  const wait = pos.etaMs > 0 ? `, about ${formatDuration(pos.etaMs)} to wait` : '';
  const place = pos.position > 0 ? `position ${pos.position} in the queue${wait}` : 'starting';
  const cloud = isCloudJob(job) ? cloudStatusLine(job) : '';
  return `${headline(job)}${cloud ? `\n${cloud}` : ''}\n⏳ Queued${isCloudJob(job) ? ' for the cloud' : ''}: ${place}.${note ? `\n${note}` : ''}`;
}

export function runningContent(job: JobRecord, step?: { step: number; totalSteps: number }): string {
  if (isCloudJob(job)) return `${headline(job)}\n${cloudStatusLine(job)}`;
  if (!step) return `${headline(job)}\n🎨 Starting${job.device ? ` on ${job.device}` : ''}…`;
  const pct = Math.round((100 * step.step) / Math.max(1, step.totalSteps));
  return `${headline(job)}\n🎨 Step ${step.step}/${step.totalSteps} (${pct}%)`;
}

/** What the request's own message says once the result has been posted as a reply to it. */
export function doneContent(job: JobRecord): string {
  const took = job.startedAt && job.finishedAt ? ` in ${formatDuration(job.finishedAt - job.startedAt)}` : '';
  const rescued = localFailureBehind(job) ? ` (by ${cloudProviderName(job).replace(' (Google)', '')}: the local engine failed)` : '';
  return `${headline(job)}\n✅ Done${took}${rescued}: the images are in the reply below.`;
}

export function cancelledContent(job: JobRecord, byUserId?: string): string {
  return `${headline(job)}\n❌ Cancelled${byUserId ? ` by <@${byUserId}>` : ''}.`;
}

export function failedContent(job: JobRecord, message: string): string {
  return `${headline(job)}\n⚠️ Generation failed (job \`${job.id}\`): ${message}`;
}

/** Every image of the job was held back (the server blocks what the safety checker flags). */
export function withheldContent(job: JobRecord, why: string): string {
  return `${headline(job)}\n🚫 Nothing to show (job \`${job.id}\`): ${why}.`;
}

function seedsText(seeds: number[], job?: Pick<JobRecord, 'device' | 'provider'>): string {
  if (seeds.length === 0) return '—';
  if (seedsUnknown(seeds) && job && isCloudJob(job)) return cloudSeedText(job);
  const consecutive = seeds.every((s, i) => i === 0 || s === seeds[i - 1] + 1);
  return seeds.length > 2 && consecutive ? `${seeds[0]}–${seeds[seeds.length - 1]}` : seeds.join(', ');
}

export interface ResultDetails {
  /** Scheduler the engine used (the request's, or the model's default). */
  scheduler?: string;
  /** Name of the attachment the embed shows (the grid, or the single image); none for spoilers. */
  imageName?: string;
  /** Sizes of the files as sent, when they differ from the generated ones (WebP/JPEG fallback). */
  notes?: string[];
  /** Size of the first image as drawn (the cloud picks its own sizes). */
  imageSize?: { width: number; height: number };
}

export function resultEmbed(job: JobRecord, d: ResultDetails): APIEmbed {
  const r = job.request;
  const fields: APIEmbedField[] = [];
  const add = (name: string, value: string) => fields.push({ name, value: value.slice(0, 1024), inline: true });
  const outW = d.imageSize?.width ?? (job.kind === 'upscale' ? r.width * (job.upscaleFactor ?? 2) : r.width);
  const outH = d.imageSize?.height ?? (job.kind === 'upscale' ? r.height * (job.upscaleFactor ?? 2) : r.height);
  const imagen = isCloudJob(job);
  add(job.seeds.length > 1 ? 'Seeds' : 'Seed', seedsText(job.seeds.length ? job.seeds : [r.seed], job));
  if (imagen) {
    // The cloud has no steps, guidance or scheduler to show.
    add('Provider', cloudProviderName(job));
  } else if (job.kind !== 'upscale') {
    add('Steps', String(r.steps));
    add('Guidance', String(r.guidanceScale));
    add('Scheduler', d.scheduler ?? r.scheduler ?? 'model default');
  }
  add('Model', job.kind === 'upscale' ? 'Lanczos' : imagen ? cloudModelText(job) : job.model);
  add('Size', `${outW}×${outH}`);
  if (job.kind === 'img2img' && r.strength !== undefined && !imagen) add('Strength', String(r.strength));
  if (job.kind === 'img2img' && job.maskImagePath) add('Inpainting', inpaintSummary(r));
  if (r.loras?.length && !imagen && job.kind !== 'upscale') add('LoRA', lorasText(r.loras));
  const control = controlNetSummary(r);
  if (control && job.kind !== 'upscale') add('ControlNet', control);
  if (job.startedAt && job.finishedAt) add('Time', formatDuration(job.finishedAt - job.startedAt));
  add('Requested by', `<@${job.requester.userId}>`);
  let description = escapeUserText(r.prompt);
  if (r.negativePrompt) description += `\n**Negative:** ${escapeUserText(r.negativePrompt)}`;
  const notes = [...(imagen ? cloudNotes(job) : []), ...(d.notes ?? [])];
  if (notes.length) description += `\n*${notes.join('; ')}*`;
  const title = jobTitle(job);
  return {
    color: EMBED_COLOR,
    ...(title ? { title } : {}),
    description: description.slice(0, 4000),
    fields,
    ...(d.imageName ? { image: { url: `attachment://${d.imageName}` } } : {}),
    footer: { text: `job ${job.id}` },
  };
}

type ActionStyle = APIButtonComponentWithCustomId['style'];

function button(action: ButtonAction, jobId: string, index: number, label: string, style: ActionStyle = ButtonStyle.Secondary): APIButtonComponentWithCustomId {
  return { type: ComponentType.Button, style, label, custom_id: encodeCustomId({ action, jobId, index }) };
}

function emojiButton(action: ButtonAction, jobId: string, emoji: string, style: ActionStyle = ButtonStyle.Secondary): APIButtonComponentWithCustomId {
  return { type: ComponentType.Button, style, emoji: { name: emoji }, custom_id: encodeCustomId({ action, jobId, index: 0 }) };
}

const row = (components: APIButtonComponentWithCustomId[]): ActionRow => ({ type: ComponentType.ActionRow, components });

/** A single picture people keep editing: a U result, or what one of the tools under it made. */
export function isSingleImageResult(job: Pick<JobRecord, 'kind' | 'parent'>): boolean {
  return job.kind === 'upscale' || isEditAction(job.parent?.action);
}

/** The tools under a single image (edit-catalog.ts), then ℹ️. */
export function editComponents(jobId: string): ActionRow[] {
  const rows = EDIT_ROWS.map((tools) => tools.map((t) => (t.emoji ? emojiButton(t.action, jobId, t.emoji) : button(t.action, jobId, 0, t.label ?? t.action))));
  rows[rows.length - 1].push(emojiButton('info', jobId, 'ℹ️'));
  return rows.map(row);
}

/**
 * U1–Un, V1–Vn, then 🔄 and ℹ️; a single image (an upscale, an edit's result) gets the editing
 * tools and ℹ️. `images` is a count, or the indices of the images actually posted (withheld
 * ones get no buttons).
 */
export function resultComponents(job: JobRecord, images: number | number[]): ActionRow[] {
  if (isSingleImageResult(job)) {
    const shown = typeof images === 'number' ? images > 0 : images.includes(0);
    return shown ? editComponents(job.id) : [row([emojiButton('info', job.id, 'ℹ️')])];
  }
  const ids = (typeof images === 'number' ? Array.from({ length: images }, (_, i) => i) : images).slice(0, 4);
  if (ids.length === 0) return [row([emojiButton('reroll', job.id, '🔄'), emojiButton('info', job.id, 'ℹ️')])];
  return [
    row(ids.map((i) => button('upscale', job.id, i, `U${i + 1}`))),
    row(ids.map((i) => button('variation', job.id, i, `V${i + 1}`))),
    row([emojiButton('reroll', job.id, '🔄'), emojiButton('info', job.id, 'ℹ️')]),
  ];
}

/** While waiting or running: ❌ (only the requester's click counts). */
export function pendingComponents(jobId: string): ActionRow[] {
  return [row([emojiButton('cancel', jobId, '❌', ButtonStyle.Danger)])];
}

/** The size drawn: a creative upscale's request holds its input's size. */
function infoSize(job: JobRecord): string {
  const r = job.request;
  const scale = r.edit?.kind === 'hires' ? r.edit.scale : 1;
  return `${Math.round(r.width * scale)}×${Math.round(r.height * scale)}`;
}

/** Lineage: "Zoom Out 2× of job `X` image 3", or (U, V) "image 3 of job `X`". */
function fromLine(job: JobRecord): string {
  const p = job.parent!;
  const tool = editToolTitle(job);
  return tool ? `${tool} of job \`${p.jobId}\` image ${p.imageIndex + 1}` : `image ${p.imageIndex + 1} of job \`${p.jobId}\``;
}

/** A job made from a Discord message's image (context-menu commands). */
function sourceTitle(source: MessageSource): string {
  if (source.action === 'edit_image') return `Edit of an image${source.region ? ` (${source.region.replace(/_/g, ' ')})` : ' (uploaded mask)'}`;
  return 'Variation of an image';
}

/** Lineage in ℹ️: "Remix of image 2 of job `X`", "Zoom Out 2× of job `X` image 3", "Edit image… of <message link>". */
function lineageLine(job: JobRecord): string | undefined {
  if (job.source) {
    const s = job.source;
    const link = job.requester.guildId ? `https://discord.com/channels/${job.requester.guildId}/${s.channelId}/${s.messageId}` : `message ${s.messageId}`;
    const what = s.action === 'edit_image' ? `Edit image…${s.region ? ` (${s.region.replace(/_/g, ' ')})` : ' (uploaded mask)'}` : 'Vary this image';
    return `**From** ${what} of ${link} (posted by <@${s.authorId}>)`;
  }
  if (!job.parent) return undefined;
  const p = job.parent;
  if (p.action?.startsWith('remix_')) {
    const of = p.action === 'remix_reroll' ? `job \`${p.jobId}\` with new seeds` : `image ${p.imageIndex + 1} of job \`${p.jobId}\``;
    return `**From** Remix (prompt edited) of ${of}`;
  }
  return `**From** ${fromLine(job)}`;
}

/** ℹ️: every parameter, plus an /imagine line that reproduces the first image. */
export function infoText(job: JobRecord, scheduler?: string): string {
  const r = job.request;
  const lines = [
    `**Job** \`${job.id}\` (${job.kind}, ${job.state})`,
    `**Prompt** ${escapeUserText(r.prompt)}`,
    ...(r.negativePrompt ? [`**Negative** ${escapeUserText(r.negativePrompt)}`] : []),
    `**Seeds** ${seedsText(job.seeds.length ? job.seeds : [r.seed], job)}`,
    isCloudJob(job)
      ? `**Provider** ${cloudProviderName(job)} · **Model** ${cloudModelText(job)}`
      : `**Steps** ${r.steps} · **Guidance** ${r.guidanceScale} · **Scheduler** ${scheduler ?? r.scheduler ?? 'model default'}`,
    `${isCloudJob(job) ? '' : `**Model** ${job.model} · `}**Size** ${infoSize(job)}${r.strength !== undefined ? ` · **Strength** ${r.strength}` : ''}`,
    ...(r.loras?.length && !isCloudJob(job)
      ? [`**LoRA** ${escapeUserText(lorasText(r.loras))}${lorasRecord(r.loras) ? ` · ${lorasRecord(r.loras)}` : ''}`]
      : []),
    ...(controlNetSummary(r) && job.kind !== 'upscale' ? [`**ControlNet** ${controlNetSummary(r)}`] : []),
    ...(lineageLine(job) ? [lineageLine(job)!] : []),
    ...(job.maskImagePath ? [`**Inpainting** with a mask (white repainted, black kept) · ${inpaintSummary(r)}`] : []),
    ...(job.device ? [`**Device** ${job.device}`] : []),
  ];
  if (job.kind === 'txt2img') {
    const cmd =
      `/imagine prompt:${r.prompt.replace(/\s+/g, ' ')}` +
      (r.negativePrompt ? ` negative:${r.negativePrompt.replace(/\s+/g, ' ')}` : '') +
      ((job.seeds[0] ?? r.seed) >= 0 ? ` seed:${job.seeds[0] ?? r.seed}` : '') +
      ` steps:${r.steps} guidance:${r.guidanceScale} size:${r.width}x${r.height} model:${job.model}` +
      (r.scheduler ? ` scheduler:${r.scheduler}` : '') +
      (r.loras?.length === 1 ? ` lora:${r.loras[0].name} lora_weight:${r.loras[0].weight}` : '');
    lines.push('**Again**', '```', cmd.replace(/`/g, "'"), '```');
  }
  return lines.join('\n').slice(0, 2000);
}

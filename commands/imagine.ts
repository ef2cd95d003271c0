// /imagine: defer at once (Discord's 3 s), then validate, check the server's settings and
// quotas (refusals are ephemeral follow-ups; the deferred reply is deleted), fetch the input
// image if any and queue the job. From there the presenter shows position, progress and the
// result in the deferred reply. Guild-only (contexts), like every command of this bot.
import {
  InteractionContextType,
  MessageFlags,
  SlashCommandBuilder,
  type ApplicationCommandOptionChoiceData,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { SCHEDULER_NAMES } from '../src/diffusion/types.js';
import { MAX_STEPS } from '../src/diffusion/validate.js';
import type { BotContext } from '../src/bot/context.js';
import { fetchInputImage } from '../src/bot/input-image.js';
import { personalDefaults, stealthFor } from '../src/bot/prefs.js';
import { NEGATIVE_MAX, parseImagineOptions, PROMPT_MAX, SEED_MAX, type RawImagineOptions } from '../src/bot/imagine-options.js';
import { limitsFor } from '../src/bot/limits.js';
import { refuseDeferred } from '../src/bot/refusal.js';
import { modelAllowed } from '../src/settings/effective.js';
import { formatSize, parseWxH, presetSize, SIZE_PRESETS, type SizePreset } from '../src/jobs/sizes.js';
import { preflight, requesterOf, submitJob } from '../src/bot/submit.js';
import { shortPrompt } from '../src/bot/render.js';
import { withHashes } from '../src/bot/lora-options.js';
import { listLoras, LORA_WEIGHT_MAX, LORA_WEIGHT_MIN } from '../src/diffusion/lora/choices.js';
import { controlNetChoices } from '../src/bot/controlnet-options.js';
import { DEFAULT_INPAINT_PADDING, MAX_CONTROL_SCALE, MAX_INPAINT_PADDING } from '../src/diffusion/validate.js';
import { INPAINT_AREA_CHOICES, MASK_CONTENT_CHOICES } from '../src/bot/inpaint-options.js';

// Discord-side bounds are the engine's absolute ones; the guild's tighter limits are checked
// in parseImagineOptions, which can say what this server allows.
export const data = new SlashCommandBuilder()
  .setName('imagine')
  .setDescription('Generate images from a text prompt')
  .setContexts(InteractionContextType.Guild)
  .addStringOption((o) => o.setName('prompt').setDescription('What to draw').setRequired(true).setMaxLength(PROMPT_MAX))
  .addStringOption((o) => o.setName('negative').setDescription('What to keep out of the picture').setMaxLength(NEGATIVE_MAX))
  .addIntegerOption((o) => o.setName('seed').setDescription('Seed of the first image (random if empty)').setMinValue(0).setMaxValue(SEED_MAX))
  .addIntegerOption((o) => o.setName('steps').setDescription('Denoising steps').setMinValue(1).setMaxValue(MAX_STEPS))
  .addNumberOption((o) => o.setName('guidance').setDescription('How closely to follow the prompt (guidance scale)').setMinValue(0).setMaxValue(30))
  .addStringOption((o) => o.setName('size').setDescription('square, portrait, landscape, wide, or WxH such as 512x768').setMaxLength(11).setAutocomplete(true))
  .addIntegerOption((o) => o.setName('count').setDescription('How many images (1–4)').setMinValue(1).setMaxValue(4))
  .addStringOption((o) => o.setName('model').setDescription('Model to draw with').setMaxLength(100).setAutocomplete(true))
  .addStringOption((o) =>
    o
      .setName('scheduler')
      .setDescription('Sampler (the model’s own by default)')
      .addChoices(...SCHEDULER_NAMES.map((s) => ({ name: s, value: s }))),
  )
  .addAttachmentOption((o) => o.setName('image').setDescription('Start from this image (image-to-image)'))
  .addNumberOption((o) =>
    o.setName('strength').setDescription('Image-to-image: how much to change the image (0–1, default 0.75)').setMinValue(0).setMaxValue(1),
  )
  // LoRAs: one here, more as <lora:name:weight> in the prompt (src/bot/lora-options.ts).
  .addStringOption((o) =>
    o.setName('lora').setDescription('A LoRA style to apply (more: <lora:name:0.8> in the prompt)').setMaxLength(100).setAutocomplete(true),
  )
  .addNumberOption((o) =>
    o.setName('lora_weight').setDescription('How strongly to apply the LoRA (default 1)').setMinValue(LORA_WEIGHT_MIN).setMaxValue(LORA_WEIGHT_MAX),
  )
  .addAttachmentOption((o) => o.setName('mask').setDescription('Inpainting, with image: white repaints, black keeps (any size)'))
  // Inpainting's A1111 controls (src/bot/inpaint-options.ts): only with mask.
  .addStringOption((o) =>
    o
      .setName('mask_content')
      .setDescription('With mask: what the masked area starts from (default original)')
      .addChoices(...MASK_CONTENT_CHOICES),
  )
  .addStringOption((o) =>
    o
      .setName('inpaint_area')
      .setDescription('With mask: repaint at the whole picture’s scale, or only the masked box at full size')
      .addChoices(...INPAINT_AREA_CHOICES),
  )
  .addIntegerOption((o) =>
    o
      .setName('mask_padding')
      .setDescription(`Only masked: pixels around the mask’s box (0–${MAX_INPAINT_PADDING}, default ${DEFAULT_INPAINT_PADDING})`)
      .setMinValue(0)
      .setMaxValue(MAX_INPAINT_PADDING),
  )
  .addStringOption((o) =>
    o.setName('controlnet').setDescription('ControlNet that makes the picture follow control_image').setMaxLength(100).setAutocomplete(true),
  )
  .addAttachmentOption((o) => o.setName('control_image').setDescription('ControlNet: the picture to follow (its Canny edges)'))
  .addNumberOption((o) =>
    o
      .setName('control_scale')
      .setDescription(`ControlNet: how strongly to follow (0–${MAX_CONTROL_SCALE}, default 1)`)
      .setMinValue(0)
      .setMaxValue(MAX_CONTROL_SCALE),
  );

function rawOptions(i: ChatInputCommandInteraction): RawImagineOptions {
  const o = i.options;
  const att = o.getAttachment('image');
  const mask = o.getAttachment('mask');
  return {
    prompt: o.getString('prompt'),
    negative: o.getString('negative'),
    seed: o.getInteger('seed'),
    steps: o.getInteger('steps'),
    guidance: o.getNumber('guidance'),
    size: o.getString('size'),
    count: o.getInteger('count'),
    model: o.getString('model'),
    scheduler: o.getString('scheduler'),
    image: att ? { url: att.url, name: att.name, contentType: att.contentType, size: att.size } : null,
    strength: o.getNumber('strength'),
    lora: o.getString('lora'),
    loraWeight: o.getNumber('lora_weight'),
    mask: mask ? { url: mask.url, name: mask.name, contentType: mask.contentType, size: mask.size } : null,
    mask_content: o.getString('mask_content'),
    inpaint_area: o.getString('inpaint_area'),
    mask_padding: o.getInteger('mask_padding'),
    ...controlOptions(i),
  };
}

function controlOptions(i: ChatInputCommandInteraction): Pick<RawImagineOptions, 'controlnet' | 'control_image' | 'control_scale'> {
  const att = i.options.getAttachment('control_image');
  return {
    controlnet: i.options.getString('controlnet'),
    control_image: att ? { url: att.url, name: att.name, contentType: att.contentType, size: att.size } : null,
    control_scale: i.options.getNumber('control_scale'),
  };
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  // Defer first: Discord's 3 s acknowledgement must not wait on any check, even in a burst.
  // Every refusal below is an ephemeral follow-up, and the deferred reply is deleted.
  // Stealth (/prefs, where the server allows it): two primary-key reads, then an ephemeral reply
  // that the result replaces; no channel message id, since the channel cannot edit it.
  const stealth = stealthFor(ctx, i.user.id, i.guildId);
  const response = await i.deferReply({ withResponse: true, ...(stealth ? { flags: MessageFlags.Ephemeral } : {}) });
  const messageId = stealth ? undefined : response.resource?.message?.id;
  const refuse = (message: string) => refuseDeferred(i, message);
  const personal = personalDefaults(ctx, i.user.id, i.guildId);
  const parsed = parseImagineOptions(rawOptions(i), limitsFor(i.guildId, ctx.config, ctx.settings), ctx.catalog, personal);
  if (!parsed.ok) return refuse(parsed.message);
  const { model, image, mask, controlImage: controlAttachment } = parsed.params;
  // The LoRAs' A1111 hashes, for the embed and ℹ️ (streamed, cached per file).
  const request = parsed.params.request.loras
    ? { ...parsed.params.request, loras: await withHashes(parsed.params.request.loras, ctx.catalog.modelsDir) }
    : parsed.params.request;
  const requester = requesterOf(i);
  // The server's settings, the user's quotas, and whether anything here may draw it: before the
  // image is fetched (submitJob checks again, for races).
  const checked = preflight(ctx, { kind: image ? 'img2img' : 'txt2img', model: model.name, request, requester });
  if (!checked.ok) return refuse(checked.message);

  let initImage: Uint8Array | undefined;
  let maskImage: Uint8Array | undefined;
  if (image) {
    const fetched = await fetchInputImage(ctx, image.url, 'image');
    if (typeof fetched === 'string') return refuse(fetched);
    initImage = fetched;
  }
  if (mask) {
    const fetched = await fetchInputImage(ctx, mask.url, 'mask');
    if (typeof fetched === 'string') return refuse(fetched);
    maskImage = fetched;
  }
  // ControlNet's control image: the same download and checks as image.
  let controlImage: Uint8Array | undefined;
  if (controlAttachment) {
    const fetched = await fetchInputImage(ctx, controlAttachment.url, 'control_image');
    if (typeof fetched === 'string') return refuse(fetched);
    controlImage = fetched;
  }
  const outcome = await submitJob(
    ctx,
    {
      kind: initImage ? 'img2img' : 'txt2img',
      model: model.name,
      request,
      ...(initImage ? { initImage } : {}),
      ...(maskImage ? { maskImage } : {}),
      ...(controlImage ? { controlImage } : {}),
      requester,
      ...(stealth ? { stealth } : {}),
      interaction: { applicationId: i.applicationId, token: i.token, createdAt: i.createdTimestamp },
      ...(messageId ? { messageId } : {}),
    },
    { uploadLimit: i.attachmentSizeLimit },
  );
  if (!outcome.ok) await refuse(`**${shortPrompt(request.prompt)}**\n${outcome.message}`);
}

function sizeChoices(typed: string, base: number): ApplicationCommandOptionChoiceData<string>[] {
  const choices: ApplicationCommandOptionChoiceData<string>[] = [];
  const custom = parseWxH(typed);
  if (custom) choices.push({ name: formatSize(custom), value: formatSize(custom) });
  for (const preset of Object.keys(SIZE_PRESETS) as SizePreset[]) {
    if (typed && !preset.startsWith(typed.toLowerCase()) && !custom) continue;
    choices.push({ name: `${preset} (${formatSize(presetSize(preset, base))})`, value: preset });
  }
  return choices;
}

export async function autocomplete(i: AutocompleteInteraction, ctx: BotContext): Promise<void> {
  const focused = i.options.getFocused(true);
  const typed = String(focused.value ?? '').trim();
  let choices: ApplicationCommandOptionChoiceData<string>[] = [];
  if (focused.name === 'model') {
    // Only what this server allows, with its own default marked.
    const settings = ctx.settings.effective(i.guildId);
    const guildDefault = settings.model.default ? ctx.catalog.lookup(settings.model.default) : undefined;
    const fallback = guildDefault?.ok ? guildDefault : ctx.catalog.lookup();
    choices = ctx.catalog
      .list()
      .filter((m) => m.name.toLowerCase().includes(typed.toLowerCase()) && modelAllowed(settings, m.name))
      .map((m) => ({ name: fallback.ok && fallback.model.name === m.name ? `${m.name} (default)` : m.name, value: m.name }));
  } else if (focused.name === 'lora') {
    const allowed = limitsFor(i.guildId, ctx.config, ctx.settings).loraAllowed ?? (() => true);
    choices = listLoras(ctx.catalog.modelsDir)
      .filter((l) => l.name.toLowerCase().includes(typed.toLowerCase()) && allowed(l.name))
      .map((l) => ({ name: l.name, value: l.name }));
  } else if (focused.name === 'controlnet') {
    choices = controlNetChoices(ctx.catalog.modelsDir, typed);
  } else if (focused.name === 'size') {
    const chosen = ctx.catalog.lookup(i.options.getString('model') ?? undefined);
    const base = chosen.ok ? chosen.model.defaults.width : 512;
    choices = sizeChoices(typed, base);
  }
  await i.respond(choices.slice(0, 25));
}

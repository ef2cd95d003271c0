// /models: the models on disk with their family, default size and steps, the devices that have
// them loaded, and whether this server allows them. Ephemeral: a reference card, not a post.
import { InteractionContextType, MessageFlags, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { inspectModel } from '../src/diffusion/model-inspect.js';
import type { BotContext } from '../src/bot/context.js';
import { modelAllowed } from '../src/settings/effective.js';
import { limitsFor } from '../src/bot/limits.js';
import { listLoras } from '../src/diffusion/lora/choices.js';

export const data = new SlashCommandBuilder()
  .setName('models')
  .setDescription('The models this bot can draw with, and which this server allows')
  .setContexts(InteractionContextType.Guild);

/** Devices per loaded model, when the queue can tell (local workers, Redis worker hosts). */
function loadedOn(ctx: BotContext): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const w of ctx.queue.workers()) {
    for (const m of w.loadedModels) out.set(m, [...(out.get(m) ?? []), w.device]);
  }
  return out;
}

function family(dir: string): string {
  try {
    return inspectModel(dir).family;
  } catch {
    return 'unknown';
  }
}

export async function execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const models = ctx.catalog.list();
  const settings = ctx.settings.effective(i.guildId);
  const fallback = ctx.catalog.lookup(settings.model.default);
  const defaultName = fallback.ok ? fallback.model.name : undefined;
  const loaded = loadedOn(ctx);
  const lines = models.map((m) => {
    const d = m.defaults;
    const devices = loaded.get(m.name);
    const allowed = modelAllowed(settings, m.name);
    return (
      `• **${m.name}**${m.name === defaultName ? ' (default)' : ''} — ${family(m.dir)} · ${d.width}×${d.height}, ${d.steps} steps` +
      `${m.canImg2Img ? ' · image-to-image' : ''} · loaded on: ${devices?.join(', ') ?? 'none'} · ${allowed ? '✅ allowed here' : '🚫 not allowed here'}`
    );
  });
  let content = lines.length
    ? `**Models**\n${lines.join('\n')}`
    : 'No model is installed yet: the bot owner can add one with `npm run models -- pull onnxruntime/sd-turbo`.';
  // LoRAs ($MODELS_DIR/loras): /imagine lora:<name>, or <lora:name:0.8> in the prompt.
  const loras = listLoras(ctx.catalog.modelsDir);
  if (loras.length) {
    const allowed = limitsFor(i.guildId, ctx.config, ctx.settings).loraAllowed ?? (() => true);
    const rows = loras.map((l) => `• **${l.name}** — ${l.sizeMb.toFixed(1)} MB · ${allowed(l.name) ? '✅ allowed here' : '🚫 not allowed here'}`);
    content += `\n**LoRAs** (\`lora:\` option, or \`<lora:name:0.8>\` in the prompt)\n${rows.join('\n')}`;
  }
  await i.reply({ content: content.slice(0, 2000), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

// /imagine's LoRAs: the `lora` + `lora_weight` options and A1111's <lora:name:w> tags in the
// prompts, checked against what is installed ($MODELS_DIR/loras), what the server allows and
// the owner's cap (IMAGINE_MAX_LORAS). The request carries them by name, with A1111's short
// hash, so buttons, restarts and Redis workers keep them and ℹ️ can show "Lora hashes".
import { createReadStream, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { extractLoraTags, listLoras, LORA_WEIGHT_MAX, LORA_WEIGHT_MIN, type LoraRequest } from '../diffusion/lora/choices.js';
import { loraHashesField } from '../diffusion/lora/apply.js';

export const DEFAULT_MAX_LORAS = 3;

export interface LoraOptionInput {
  prompt: string;
  negative?: string;
  lora?: string;
  loraWeight?: number;
}

/** A request's LoRA entry once the bot has hashed the file. */
export type HashedLora = LoraRequest & { hash?: string };

export type LoraParse = { ok: true; loras: LoraRequest[] } | { ok: false; problems: string[] };

/** Checks the LoRA option and tags; `allowed` is the server's allow/deny rule. */
export function parseLoraOptions(
  input: LoraOptionInput,
  modelsDir: string,
  maxLoras = DEFAULT_MAX_LORAS,
  allowed: (name: string) => boolean = () => true,
): LoraParse {
  const problems: string[] = [];
  const wanted = new Map<string, LoraRequest>();
  for (const text of [input.prompt, input.negative ?? '']) {
    try {
      for (const l of extractLoraTags(text).loras) wanted.set(l.name.toLowerCase(), l);
    } catch (err) {
      problems.push(`**prompt** ${(err as Error).message}`);
    }
  }
  if (input.loraWeight !== undefined && !input.lora) problems.push('**lora_weight** only applies together with a lora');
  if (input.lora) wanted.set(input.lora.toLowerCase(), { name: input.lora, weight: input.loraWeight ?? 1 });
  if (wanted.size === 0) return problems.length ? { ok: false, problems } : { ok: true, loras: [] };
  if (maxLoras === 0) return { ok: false, problems: [...problems, '**lora** LoRAs are turned off on this bot'] };
  if (wanted.size > maxLoras) problems.push(`**lora** at most ${maxLoras} LoRA${maxLoras === 1 ? '' : 's'} per image here (${wanted.size} asked for)`);
  const installed = listLoras(modelsDir);
  const loras: LoraRequest[] = [];
  for (const l of wanted.values()) {
    const hit = installed.find((i) => i.name.toLowerCase() === l.name.toLowerCase());
    if (!hit) {
      const names = installed.map((i) => i.name).filter(allowed);
      problems.push(`**lora** "${l.name}" is not installed${names.length ? ` (available: ${names.slice(0, 10).join(', ')})` : ' (none are)'}`);
    } else if (!allowed(hit.name)) {
      problems.push(`**lora** "${hit.name}" is not allowed on this server`);
    } else if (!(l.weight >= LORA_WEIGHT_MIN && l.weight <= LORA_WEIGHT_MAX)) {
      problems.push(`**lora_weight** must be between ${LORA_WEIGHT_MIN} and ${LORA_WEIGHT_MAX}`);
    } else {
      loras.push({ name: hit.name, weight: l.weight });
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, loras };
}

const hashCache = new Map<string, string>();

/** A1111's short hash (sha256 after the safetensors header), streamed, cached per file version. */
async function shortHash(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${path}|${st.size}|${st.mtimeMs}`;
  const cached = hashCache.get(key);
  if (cached) return cached;
  const fh = await open(path, 'r');
  let headerLen: number;
  try {
    const head = Buffer.alloc(8);
    await fh.read(head, 0, 8, 0);
    headerLen = Number(head.readBigUInt64LE(0));
  } finally {
    await fh.close();
  }
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(path, { start: 8 + headerLen })
      .on('data', (c) => hash.update(c))
      .on('end', () => resolve())
      .on('error', reject);
  });
  const short = hash.digest('hex').slice(0, 12);
  hashCache.set(key, short);
  return short;
}

/** Adds each LoRA's short hash (for the embed and ℹ️); a file that cannot be read keeps none. */
export async function withHashes(loras: readonly LoraRequest[], modelsDir: string): Promise<HashedLora[]> {
  const installed = listLoras(modelsDir);
  return Promise.all(
    loras.map(async (l) => {
      const file = installed.find((i) => i.name === l.name);
      const hash = file ? await shortHash(file.path).catch(() => undefined) : undefined;
      return hash ? { ...l, hash } : { ...l };
    }),
  );
}

/** "ink 0.8, grain 1" for the embed. */
export function lorasText(loras: readonly LoraRequest[]): string {
  return loras.map((l) => `${l.name} ${l.weight}`).join(', ');
}

/** ℹ️'s A1111 record: `Lora hashes: "name: hash, …"` (LoRAs without a known hash left out). */
export function lorasRecord(loras: readonly HashedLora[]): string | undefined {
  return loraHashesField(loras.filter((l): l is HashedLora & { hash: string } => !!l.hash).map((l) => ({ name: l.name, shortHash: l.hash })));
}

// LoRAs through the real bot process and the Discord stand-in: /imagine's lora + lora_weight
// options and <lora:…> tags, autocomplete, the embed and ℹ️ record (A1111's Lora hashes), 🔄
// keeping the LoRA, /models listing them, and the refusals (not installed, over the cap, a LoRA
// for another model).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { InteractionHandle, ViewMessage } from '../support/discord/index.js';
import { addnetHash } from '../../src/diffusion/lora/safetensors.js';
import { readTextChunks } from '../../src/diffusion/png.js';
import { createTinyLora } from '../../src/models/tiny/index.js';
import { tinyModel } from '../support/tiny-models.js';
import { buttonId as button, embedField as field, fullDifference, refusalOf, resultOf as resultIn, startHarness, type Harness } from './harness.js';

let h: Harness;
let hash: string;

before(async () => {
  h = await startHarness();
  // A model with weight names (what real exports keep) and a LoRA made for it.
  cpSync(await tinyModel({ exportNames: true }, 'export-names'), join(h.modelsDir, 'named'), { recursive: true });
  mkdirSync(join(h.modelsDir, 'loras'));
  const ink = join(h.modelsDir, 'loras', 'ink.safetensors');
  await createTinyLora(ink, { model: join(h.modelsDir, 'named') });
  await createTinyLora(join(h.modelsDir, 'loras', 'grain.safetensors'), { model: join(h.modelsDir, 'named'), format: 'peft', seed: 9 });
  hash = addnetHash(readFileSync(ink)).slice(0, 12);
  await h.startBot({ IMAGINE_MAX_LORAS: '1' });
});

after(async () => {
  assert.deepEqual(
    h.discord.unhandledRequests().map((r) => `${r.method} ${r.path}`),
    [],
  );
  await h.close();
});

const resultOf = (run: InteractionHandle) => resultIn(h.discord, run);
const base = { prompt: 'a lighthouse at dusk', seed: 77, steps: 3, size: '64x64', model: 'named' };

let withLora: ViewMessage;

test('lora + lora_weight: the embed, the PNG and ℹ️ carry the LoRA with its A1111 hash', async () => {
  const plainRun = await h.discord.slash('imagine', base);
  await plainRun.ack();
  const plain = await resultOf(plainRun);
  const run = await h.discord.slash('imagine', { ...base, lora: 'ink', lora_weight: 0.7 });
  await run.ack();
  withLora = await resultOf(run);
  assert.equal(field(withLora, 'LoRA'), 'ink 0.7');
  assert.equal(field(plain, 'LoRA'), undefined);
  const png = withLora.attachments[0].bytes;
  assert.match(readTextChunks(Buffer.from(png)).parameters, new RegExp(`Lora hashes: "ink: ${hash}"`));
  assert.ok((await fullDifference(png, plain.attachments[0].bytes)) > 0, 'the LoRA changes the picture');

  const info = await h.discord.clickButton(withLora, button(withLora, 'ℹ️'));
  await info.ack();
  const text = (await info.original())?.content ?? '';
  assert.match(text, new RegExp(`\\*\\*LoRA\\*\\* ink 0\\.7 · Lora hashes: "ink: ${hash}"`));
  assert.match(text, /lora:ink lora_weight:0\.7/);
});

test('🔄 keeps the LoRA; <lora:name:w> in the prompt works as the option does', async () => {
  const click = await h.discord.clickButton(withLora, button(withLora, '🔄'));
  await click.ack();
  const again = await h.discord.waitForMessage('general', (m) => m.reference?.messageId === withLora.id && m.embeds.length > 0 && m.attachments.length > 0, {
    timeoutMs: 30_000,
  });
  assert.equal(field(again, 'LoRA'), 'ink 0.7');

  const tagged = await h.discord.slash('imagine', { ...base, prompt: 'a lighthouse at dusk <lora:ink:0.7>' });
  await tagged.ack();
  const viaTag = await resultOf(tagged);
  assert.equal(field(viaTag, 'LoRA'), 'ink 0.7');
  assert.equal(await fullDifference(viaTag.attachments[0].bytes, withLora.attachments[0].bytes), 0, 'same LoRA, same seed, same picture');
});

test('lora is autocompleted from $MODELS_DIR/loras and /models lists them', async () => {
  const ac = await h.discord.autocomplete('imagine', { prompt: 'x', lora: 'nk' }, 'lora');
  assert.deepEqual(await ac.choices(), [{ name: 'ink', value: 'ink' }]);
  const models = await h.discord.slash('models', {});
  await models.ack();
  const listing = (await models.original())?.content ?? '';
  assert.match(listing, /\*\*LoRAs\*\*/);
  assert.match(listing, /• \*\*grain\*\* — [\d.]+ MB · ✅ allowed here/);
  assert.match(listing, /• \*\*ink\*\*/);
});

test('refusals: a LoRA not installed, more than IMAGINE_MAX_LORAS, a LoRA for another model', async () => {
  const missing = await h.discord.slash('imagine', { ...base, lora: 'nope' });
  await missing.ack();
  assert.match((await refusalOf(missing)).content, /lora\*\* "nope" is not installed \(available: grain, ink\)/);

  const many = await h.discord.slash('imagine', { ...base, prompt: 'x <lora:grain>', lora: 'ink' });
  await many.ack();
  assert.match((await refusalOf(many)).content, /at most 1 LoRA per image here \(2 asked for\)/);

  // The default tiny model keeps no weight names: nothing matches, and the job fails saying so.
  const wrong = await h.discord.slash('imagine', { ...base, model: 'tiny', lora: 'ink' });
  await wrong.ack();
  const failed = await wrong.waitForOriginal((m) => /Generation failed/.test(m.content), { timeoutMs: 30_000 });
  assert.match(failed.content, /LoRA "ink" \(ink\.safetensors\) matched none of model tiny's weights/);

  // Nothing was lost: the same bot still draws with the LoRA on the right model.
  const ok = await h.discord.slash('imagine', { ...base, lora: 'ink' });
  await ok.ack();
  assert.equal(field(await resultOf(ok), 'LoRA'), 'ink 1');
});

test('/settings lora deny: /imagine and 🔄 refuse the LoRA here, /models says so; allow undoes it', async () => {
  const ask = async (command: string, options: Record<string, string>) => {
    const run = await h.discord.slash(command, options, { user: 'mod' });
    await run.ack();
    return (await run.waitForOriginal((m) => !m.loading, { timeoutMs: 10_000 })).content;
  };
  assert.match(await ask('settings lora deny', { lora: 'ink' }), /LoRA \*\*ink\*\* is denied on this server/);
  assert.match(await ask('settings lora deny', { lora: 'nope' }), /LoRA "nope" is not installed\. Installed: grain, ink\./);
  assert.match(await ask('settings view', {}), /\*\*LoRAs\*\* allowed: all · denied: ink/);

  const run = await h.discord.slash('imagine', { ...base, lora: 'ink' });
  await run.ack();
  assert.match((await refusalOf(run)).content, /lora\*\* "ink" is not allowed on this server/);
  const click = await h.discord.clickButton(withLora, button(withLora, '🔄'));
  await click.ack();
  const refused = await h.discord.waitFor(
    () => h.discord.messages('general', { visibleTo: 'alice' }).find((m) => /LoRA ink is not allowed on this server/.test(m.content)),
    {
      timeoutMs: 10_000,
      message: 'the 🔄 refusal',
    },
  );
  assert.ok(refused);
  const ac = await h.discord.autocomplete('imagine', { prompt: 'x', lora: '' }, 'lora');
  assert.deepEqual(await ac.choices(), [{ name: 'grain', value: 'grain' }]);

  assert.match(await ask('settings lora allow', { lora: 'ink' }), /LoRA \*\*ink\*\* is allowed again/);
  const ok = await h.discord.slash('imagine', { ...base, lora: 'ink' });
  await ok.ack();
  assert.equal(field(await resultOf(ok), 'LoRA'), 'ink 1');
});

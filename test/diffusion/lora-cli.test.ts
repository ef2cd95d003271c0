// The LoRA command lines: create-tiny --export-names, create-tiny-lora, and imagine's --lora
// (file or name in $MODELS_DIR/loras, repeatable) and <lora:name:w> in the prompt.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { addnetHash } from '../../src/diffusion/lora/safetensors.js';
import { readTextChunks } from '../../src/diffusion/png.js';
import { isolated, entryArgs } from '../support/child-process.js';

function run(script: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, entryArgs(script, ...args), { encoding: 'utf8', ...isolated({ LOG_LEVEL: 'warn', ...env }), timeout: 90_000 });
}

const root = mkdtempSync(join(tmpdir(), 'lora-cli-'));
const modelsDir = join(root, 'models');
const model = join(modelsDir, 'tiny');
const lora = join(modelsDir, 'loras', 'ink.safetensors');

before(() => {
  mkdirSync(join(modelsDir, 'loras'), { recursive: true });
  const made = run('src/cli/models.ts', ['create-tiny', model, '--export-names']);
  assert.equal(made.status, 0, made.stderr);
  const r = run('src/cli/models.ts', ['create-tiny-lora', lora, '--model', model, '--format', 'peft']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /peft LoRA with 14 modules/);
});

const common = ['--model', model, '--steps', '2', '--seed', '3', '--size', '64x64'];

test('--lora NAME:WEIGHT and <lora:name:w> in the prompt give the same picture, recorded with the hash', async () => {
  const a = join(root, 'a.png');
  const b = join(root, 'b.png');
  const byFlag = run('src/cli/imagine.ts', ['a fox', ...common, '--lora', 'ink:0.7', '--out', a], { MODELS_DIR: modelsDir });
  assert.equal(byFlag.status, 0, byFlag.stderr);
  assert.match(byFlag.stdout, /LoRA ink at 0\.7: 14 modules merged/);
  const byTag = run('src/cli/imagine.ts', ['a fox <lora:ink:0.7>', ...common, '--out', b], { MODELS_DIR: modelsDir });
  assert.equal(byTag.status, 0, byTag.stderr);
  const [pa, pb] = await Promise.all([a, b].map((f) => sharp(readFileSync(f)).raw().toBuffer()));
  assert.ok(pa.equals(pb));
  const params = readTextChunks(readFileSync(b)).parameters;
  assert.match(params, /^a fox <lora:ink:0\.7>\n/);
  assert.ok(params.endsWith(`Lora hashes: "ink: ${addnetHash(readFileSync(lora)).slice(0, 12)}"`), params);
});

test('--lora with a file path works outside $MODELS_DIR/loras', () => {
  const out = join(root, 'c.png');
  const r = run('src/cli/imagine.ts', ['a fox', ...common, '--lora', lora, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /LoRA ink at 1: 14 modules merged/);
});

test('bad LoRAs: unknown name, pickle file, bad weight — one clear line, no output', () => {
  const out = join(root, 'bad.png');
  const unknown = run('src/cli/imagine.ts', ['a fox <lora:nope>', ...common, '--out', out], { MODELS_DIR: modelsDir });
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /error: No LoRA named "nope" in .*loras \(installed: ink\)/);
  const pt = join(root, 'old.pt');
  writeFileSync(pt, Buffer.from([0x80, 0x02, 0x7d, 0x71, 0, 1, 2, 3, 4]));
  const pickle = run('src/cli/imagine.ts', ['a fox', ...common, '--lora', pt, '--out', out]);
  assert.equal(pickle.status, 1);
  assert.match(pickle.stderr, /error: old\.pt is a pickled PyTorch file/);
  const weight = run('src/cli/imagine.ts', ['a fox', ...common, '--lora', 'ink:7', '--out', out], { MODELS_DIR: modelsDir });
  assert.equal(weight.status, 1);
  assert.match(weight.stderr, /between -4 and 4/);
  assert.equal(existsSync(out), false);
});

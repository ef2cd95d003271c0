// `npm run imagine -- … --control-image f --controlnet NAME` and `npm run models -- create-tiny-controlnet`,
// as processes with their own environment (MODELS_DIR names where ControlNets are looked up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readTextChunks } from '../../src/diffusion/png.js';
import { isolated, entryArgs } from '../support/child-process.js';
import { tinyControlNetModels } from '../support/tiny-models.js';

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, entryArgs(script, ...args), { encoding: 'utf8', ...isolated({ LOG_LEVEL: 'warn', ...env }), timeout: 90_000 });
}

async function controlPng(dir: string): Promise<string> {
  const path = join(dir, 'control.png');
  const box = await sharp({ create: { width: 30, height: 30, channels: 3, background: '#fff' } })
    .png()
    .toBuffer();
  await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
    .composite([{ input: box, left: 17, top: 17 }])
    .png()
    .toFile(path);
  return path;
}

test('imagine --controlnet NAME --control-image: drawn with the ControlNet, recorded in the PNG; scale 0 is the plain picture', async () => {
  const { modelsDir, model } = await tinyControlNetModels();
  const dir = mkdtempSync(join(tmpdir(), 'cn-cli-'));
  const control = await controlPng(dir);
  const common = ['a lighthouse', '--model', model, '--steps', '3', '--seed', '5', '--size', '64x64', '--scheduler', 'euler'];
  const env = { MODELS_DIR: modelsDir };
  const withCn = run(
    'src/cli/imagine.ts',
    [...common, '--controlnet', 'canny', '--control-image', control, '--control-scale', '0.7', '--out', join(dir, 'cn.png')],
    env,
  );
  assert.equal(withCn.status, 0, withCn.stderr);
  const zero = run(
    'src/cli/imagine.ts',
    [...common, '--controlnet', 'canny', '--control-image', control, '--control-scale', '0', '--out', join(dir, 'zero.png')],
    env,
  );
  assert.equal(zero.status, 0, zero.stderr);
  const plain = run('src/cli/imagine.ts', [...common, '--out', join(dir, 'plain.png')], env);
  assert.equal(plain.status, 0, plain.stderr);
  const params = readTextChunks(readFileSync(join(dir, 'cn.png'))).parameters;
  assert.match(params, /ControlNet 0: "Module: canny, Model: canny, Weight: 0\.7, .*Guidance Start: 0, Guidance End: 1"/);
  const px = (f: string) => sharp(join(dir, f)).raw().toBuffer();
  assert.ok((await px('zero.png')).equals(await px('plain.png')), 'scale 0 gives the plain picture');
  assert.ok(!(await px('cn.png')).equals(await px('plain.png')), 'scale 0.7 changes it');
});

test('imagine: ControlNet mistakes get one clear line before the model loads, and no file', async () => {
  const { modelsDir, model } = await tinyControlNetModels();
  const dir = mkdtempSync(join(tmpdir(), 'cn-cli-'));
  const control = await controlPng(dir);
  const out = join(dir, 'x.png');
  const notImage = join(dir, 'notes.png');
  writeFileSync(notImage, 'plain text pretending to be a PNG');
  const env = { MODELS_DIR: modelsDir };
  const base = ['a cat', '--model', model, '--steps', '1', '--size', '64x64', '--out', out];
  const cases: [string[], RegExp][] = [
    [['--controlnet', 'nope', '--control-image', control], /ControlNet "nope" is not installed .*Installed: canny, canny-scaled/],
    [['--controlnet', 'canny'], /--controlnet needs --control-image/],
    [['--control-image', control], /--control-image needs --controlnet/],
    [['--controlnet', 'canny', '--control-image', join(dir, 'missing.png')], /--control-image: no such file/],
    [['--controlnet', 'canny', '--control-image', control, '--control', 'depth'], /--control must be canny or none/],
    [['--controlnet', 'canny', '--control-image', control, '--control-scale', '3'], /control scale must be at most 2/],
    [['--controlnet', 'canny', '--control-image', notImage], /The control image could not be read/],
  ];
  for (const [extra, message] of cases) {
    const r = run('src/cli/imagine.ts', [...base, ...extra], env);
    assert.equal(r.status, 1, `${extra.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(out), false);
  }
});

test('models create-tiny-controlnet: needs --model, refuses a model it cannot feed, writes model.onnx + config.json', async () => {
  const { model } = await tinyControlNetModels();
  const dir = mkdtempSync(join(tmpdir(), 'cn-make-'));
  const noModel = run('src/cli/models.ts', ['create-tiny-controlnet', join(dir, 'a')]);
  assert.equal(noModel.status, 1);
  assert.match(noModel.stderr, /needs --model/);
  const plainModel = join(dir, 'plain');
  assert.equal(run('src/cli/models.ts', ['create-tiny', plainModel]).status, 0);
  const refused = run('src/cli/models.ts', ['create-tiny-controlnet', join(dir, 'b'), '--model', plainModel]);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /not a tiny ControlNet-ready model: create one with .*--controlnet-unet/);
  const made = run('src/cli/models.ts', ['create-tiny-controlnet', join(dir, 'c'), '--model', model]);
  assert.equal(made.status, 0, made.stderr);
  assert.ok(existsSync(join(dir, 'c', 'model.onnx')), 'model.onnx written');
  assert.equal(JSON.parse(readFileSync(join(dir, 'c', 'config.json'), 'utf8'))._class_name, 'ControlNetModel');
});

// The plain node script cold start is compared with (scripts/bench-cold-start.mjs): compiled
// JavaScript that creates the three ORT sessions, loads the tokenizer, runs the reference loop
// once and writes a PNG. Usage: node dist/scripts/cold-start-plain.js MODEL_DIR OUT.png SIZE STEPS
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { createScheduler } from '../src/diffusion/schedulers/index.js';
import { ClipTokenizer } from '../src/diffusion/tokenizer.js';
import { referenceTextToImage } from './reference-loop.js';

const [modelDir, out, sizeArg = '512', stepsArg = '20'] = process.argv.slice(2);
const size = Number(sizeArg);
const options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', logSeverityLevel: 3 };
const [tokenizer, textEncoder, unet, vaeDecoder] = await Promise.all([
  ClipTokenizer.fromDir(join(modelDir, 'tokenizer')),
  ort.InferenceSession.create(join(modelDir, 'text_encoder', 'model.onnx'), options),
  ort.InferenceSession.create(join(modelDir, 'unet', 'model.onnx'), options),
  ort.InferenceSession.create(join(modelDir, 'vae_decoder', 'model.onnx'), options),
]);
const schedulerConfig = JSON.parse(readFileSync(join(modelDir, 'scheduler', 'scheduler_config.json'), 'utf8'));
const vaeConfig = (() => {
  try {
    return JSON.parse(readFileSync(join(modelDir, 'vae_decoder', 'config.json'), 'utf8')) as { scaling_factor?: number };
  } catch {
    return {};
  }
})();
const [rgb] = await referenceTextToImage(
  { tokenizer, textEncoder, unet, vaeDecoder },
  {
    prompt: 'a photo of a cat',
    negativePrompt: '',
    seed: 1,
    guidanceScale: 7.5,
    width: size,
    height: size,
    count: 1,
    steps: Number(stepsArg),
    setTimesteps: (n) => {
      const s = createScheduler('euler', schedulerConfig);
      s.setTimesteps(n);
      return { timesteps: s.timesteps, sigmas: (s as unknown as { sigmas: Float32Array }).sigmas, initNoiseSigma: s.initNoiseSigma };
    },
    vaeScalingFactor: vaeConfig.scaling_factor ?? 0.18215,
  },
);
writeFileSync(
  out,
  await sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer(),
);

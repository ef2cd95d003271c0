// Engine benchmark on the tiny model: time per step and per image at 256² and 512², and the
// pipeline's own overhead (everything outside session.run) as a share of the total.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTinyModel } from '../src/models/tiny/index.js';
import { loadPipeline } from '../src/diffusion/pipeline.js';

const dir = join(mkdtempSync(join(tmpdir(), 'bench-')), 'tiny');
await createTinyModel(dir);
const pipe = await loadPipeline(dir);
const steps = 20;
console.log(`engine: tiny model, ${steps} steps, euler, guidance 7.5, 1 image, warm sessions, median of 5`);
for (const size of [256, 512]) {
  const req = { prompt: 'a photo of a cat', seed: 1, steps, guidanceScale: 7.5, width: size, height: size, count: 1, scheduler: 'euler' as const };
  await pipe.generate(req); // warm-up
  const runs = [];
  for (let i = 0; i < 5; i++) runs.push((await pipe.generate({ ...req, seed: i })).timings);
  runs.sort((a, b) => a.totalMs - b.totalMs);
  const t = runs[2];
  const inRun = t.textEncoderMs + t.unetMs + t.vaeMs;
  console.log(
    `${size}x${size}: ${t.stepMs.toFixed(2)} ms/step (UNet), ${t.totalMs.toFixed(0)} ms/image, ` +
      `session.run ${inRun.toFixed(0)} ms, overhead ${(t.totalMs - inRun).toFixed(0)} ms (${(((t.totalMs - inRun) / t.totalMs) * 100).toFixed(0)}%)`,
  );
}
await pipe.dispose();
rmSync(dir, { recursive: true, force: true });

// Every diffusion scheduler name end to end on the tiny model: a real image, the UNet calls its
// order implies, and progress counted in steps. (flow_match_euler is SD3's; test/diffusion/sd3.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { loadPipeline } from '../../src/diffusion/pipeline.js';
import { SCHEDULER_NAMES, type GenerationRequest, type SchedulerName } from '../../src/diffusion/types.js';
import { tinyModel } from '../support/tiny-models.js';

const base: GenerationRequest = { prompt: 'a photo of a cat', seed: 7, steps: 3, guidanceScale: 7.5, width: 64, height: 64, count: 1 };

/** UNet calls for `steps` steps: two per step but the last for second-order schedulers, PNDM one extra. */
function expectedCalls(name: SchedulerName, steps: number): number {
  if (name === 'heun' || name === 'dpmpp_sde') return 2 * steps - 1;
  if (name === 'pndm') return steps + 1;
  return steps;
}

test('every scheduler name runs text-to-image with steps counted as steps', async () => {
  const pipe = await loadPipeline(await tinyModel());
  for (const scheduler of SCHEDULER_NAMES.filter((n) => n !== 'flow_match_euler')) {
    pipe.resetStats();
    const progress: [number, number][] = [];
    const r = await pipe.generate({ ...base, scheduler }, { onProgress: (p) => progress.push([p.step, p.totalSteps]) });
    assert.equal(r.scheduler, scheduler);
    assert.equal(pipe.runStats.unetCalls, expectedCalls(scheduler, base.steps), `${scheduler} UNet calls`);
    assert.deepEqual(
      progress,
      [
        [1, 3],
        [2, 3],
        [3, 3],
      ],
      `${scheduler} progress`,
    );
    const { data } = await sharp(r.images[0].png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.ok(
      data.some((v) => v > 0 && v < 255),
      `${scheduler} gives a real image`,
    );
    const again = await pipe.generate({ ...base, scheduler });
    assert.ok(again.images[0].png.equals(r.images[0].png), `${scheduler} is reproducible for a seed`);
  }
});

test('image-to-image with the second-order schedulers starts at t_start × order', async () => {
  const pipe = await loadPipeline(await tinyModel());
  const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366cc' } })
    .png()
    .toBuffer();
  for (const scheduler of ['heun', 'dpmpp_sde', 'lms', 'unipc', 'ddpm'] as const) {
    pipe.resetStats();
    const progress: number[] = [];
    // 6 steps at strength 0.5: the last 3 run.
    const r = await pipe.generate({ ...base, steps: 6, scheduler, initImage: input, strength: 0.5 }, { onProgress: (p) => progress.push(p.totalSteps) });
    assert.equal(pipe.runStats.unetCalls, expectedCalls(scheduler, 3), `${scheduler} UNet calls`);
    assert.deepEqual(progress, [3, 3, 3]);
    const { data } = await sharp(r.images[0].png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.ok(
      data.some((v) => v > 0 && v < 255),
      `${scheduler} gives a real image`,
    );
  }
});

// A1111's inpainting_fill starts (src/diffusion/inpaint-fill.ts): the "fill" hole takes its
// surroundings' colours and leaves kept pixels alone; latent noise / nothing replace only the
// masked part of the start latents.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillMaskedRegion, latentFillSource } from '../../src/diffusion/inpaint-fill.js';

test('fill: the hole takes the colour around it, kept pixels stay byte for byte', async () => {
  const w = 64;
  const h = 32;
  // Left half red, right half blue; the hole is a square inside the red half.
  const rgb = new Uint8Array(w * h * 3);
  const soft = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      rgb.set(x < w / 2 ? [220, 30, 30] : [30, 30, 220], i * 3);
      if (x >= 8 && x < 20 && y >= 10 && y < 22) {
        soft[i] = 1;
        rgb.set([0, 255, 0], i * 3); // what the hole held: it must not survive
      }
    }
  }
  const filled = await fillMaskedRegion(rgb, w, h, soft);
  for (let i = 0; i < w * h; i++) {
    if (soft[i] === 0) assert.deepEqual([...filled.subarray(i * 3, i * 3 + 3)], [...rgb.subarray(i * 3, i * 3 + 3)], `kept pixel ${i}`);
  }
  const centre = (15 * w + 14) * 3;
  const [r, g, b] = filled.subarray(centre, centre + 3);
  assert.ok(r > 150 && g < 80 && b < 120, `the hole is filled with the red around it, not the green it held: ${[r, g, b]}`);
});

test('latent noise / nothing replace only the masked part of the start', () => {
  const image = Float32Array.from({ length: 8 }, (_, k) => k + 1); // 2 channels × 4 positions
  const noise = Float32Array.from({ length: 8 }, () => 0.5);
  const mask = Float32Array.from([0, 1, 0, 1]);
  assert.deepEqual([...latentFillSource('latent_noise', image, noise, mask)], [1, 0.5, 3, 0.5, 5, 0.5, 7, 0.5]);
  assert.deepEqual([...latentFillSource('latent_nothing', image, noise, mask)], [1, 0, 3, 0, 5, 0, 7, 0]);
  assert.equal(latentFillSource('original', image, noise, mask), image);
  assert.equal(latentFillSource('fill', image, noise, mask), image, 'fill works on pixels, before encoding');
});

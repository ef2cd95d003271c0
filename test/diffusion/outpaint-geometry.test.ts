import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keptRegion, outpaintCanvas, outpaintMask, type OutpaintOp } from '../../src/diffusion/outpaint-geometry.js';

const native512 = 512 * 512;

test('zoom out keeps the model’s native area and centres the picture at 1/f of the canvas', () => {
  for (const [factor, side] of [
    [2, 256],
    [1.5, 341],
  ] as const) {
    const op: OutpaintOp = { kind: 'zoom', factor };
    // A U result: twice the native side.
    const canvas = outpaintCanvas({ width: 1024, height: 1024 }, op, native512);
    assert.deepEqual(canvas, { width: 512, height: 512 });
    const kept = keptRegion({ width: 1024, height: 1024 }, op, canvas);
    assert.equal(kept.width, side);
    assert.equal(kept.height, side);
    assert.equal(kept.left, Math.floor((512 - side) / 2));
    assert.equal(kept.top, Math.floor((512 - side) / 2));
  }
});

test('zoom out of a landscape picture keeps its aspect ratio', () => {
  const op: OutpaintOp = { kind: 'zoom', factor: 2 };
  const canvas = outpaintCanvas({ width: 1536, height: 1024 }, op, native512);
  assert.equal(canvas.width % 64, 0);
  assert.equal(canvas.height % 64, 0);
  assert.ok(Math.abs(canvas.width * canvas.height - native512) / native512 < 0.15, `${canvas.width}×${canvas.height}`);
  const kept = keptRegion({ width: 1536, height: 1024 }, op, canvas);
  assert.ok(Math.abs(kept.width / kept.height - 1.5) < 0.02);
  // Never cropped: the border is at least what a 2× zoom asks for.
  assert.ok(kept.width <= canvas.width / 2 + 1 && kept.height <= canvas.height / 2 + 1);
});

test('a pan extends one side by (at least) half, the picture against the opposite side', () => {
  const src = { width: 512, height: 512 };
  const cases = {
    right: (k: { left: number; top: number }, c: { width: number; height: number }) => k.left === 0 && k.top === 0 && c.width > c.height,
    left: (k: { left: number; top: number; width: number }, c: { width: number }) => k.left + k.width === c.width && k.top === 0,
    down: (k: { left: number; top: number }, c: { width: number; height: number }) => k.top === 0 && k.left === 0 && c.height > c.width,
    up: (k: { top: number; height: number; left: number }, c: { height: number }) => k.top + k.height === c.height && k.left === 0,
  };
  for (const [direction, holds] of Object.entries(cases)) {
    const op = { kind: 'pan', direction } as OutpaintOp;
    const canvas = outpaintCanvas(src, op, native512, 8);
    const kept = keptRegion(src, op, canvas);
    assert.ok(holds(kept as never, canvas as never), `${direction}: ${JSON.stringify({ canvas, kept })}`);
    const horizontal = direction === 'left' || direction === 'right';
    const along = horizontal ? canvas.width : canvas.height;
    const keptAlong = horizontal ? kept.width : kept.height;
    // Snapped to 8: exactly half (within a pixel); the picture stays square.
    assert.ok(Math.abs(along - keptAlong * 1.5) <= 8, `${direction}: ${along} vs ${keptAlong}`);
    assert.equal(kept.width, kept.height);
  }
  // Snapped to 64, the new strip is never narrower than half (within a pixel of rounding).
  const canvas = outpaintCanvas(src, { kind: 'pan', direction: 'right' }, native512);
  const kept = keptRegion(src, { kind: 'pan', direction: 'right' }, canvas);
  assert.equal(canvas.width % 64, 0);
  assert.ok(canvas.width - kept.width >= kept.width / 2 - 1, JSON.stringify({ canvas, kept }));
  assert.ok(canvas.height >= kept.height);
});

test('the mask repaints everything but the kept region', () => {
  const canvas = { width: 16, height: 8 };
  const kept = { left: 4, top: 2, width: 6, height: 3 };
  const mask = outpaintMask(canvas, kept);
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 16; x++) {
      const inside = x >= 4 && x < 10 && y >= 2 && y < 5;
      assert.equal(mask[y * 16 + x], inside ? 0 : 255, `${x},${y}`);
    }
  }
});

test('canvases stay within the engine’s sides', () => {
  const c = outpaintCanvas({ width: 64, height: 2048 }, { kind: 'pan', direction: 'down' }, 1024 * 1024);
  assert.ok(c.width >= 64 && c.height <= 2048);
});

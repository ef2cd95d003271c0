// The canny preprocessor against Canny's definition as OpenCV implements it (imgproc/src/canny.cpp):
// 3×3 Sobel with replicated borders, L1 magnitude |dx| + |dy| (the strongest channel of a colour
// image), non-maximum suppression in four directions binned at 22.5° with OpenCV's tie rules,
// thresholds floored, then hysteresis over 8-neighbours from pixels above the high threshold.
// The reference below is written from that description, independently of the WASM build the
// preprocessor calls, and both must agree pixel for pixel on every fixture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { cannyEdges } from '../../src/diffusion/preprocess-canny.js';
import { CANNY_DEFAULTS, controlMapRgb, prepareControlMap } from '../../src/diffusion/preprocess.js';

function referenceCanny(rgb: Uint8Array, w: number, h: number, lowIn: number, highIn: number): Uint8Array {
  const low = Math.floor(lowIn);
  const high = Math.floor(highIn);
  const at = (x: number, y: number, c: number) => rgb[(Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))) * 3 + c];
  const dx = new Int32Array(w * h);
  const dy = new Int32Array(w * h);
  const mag = new Int32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let best = -1;
      for (let c = 0; c < 3; c++) {
        const gx = at(x + 1, y - 1, c) + 2 * at(x + 1, y, c) + at(x + 1, y + 1, c) - at(x - 1, y - 1, c) - 2 * at(x - 1, y, c) - at(x - 1, y + 1, c);
        const gy = at(x - 1, y + 1, c) + 2 * at(x, y + 1, c) + at(x + 1, y + 1, c) - at(x - 1, y - 1, c) - 2 * at(x, y - 1, c) - at(x + 1, y - 1, c);
        const m = Math.abs(gx) + Math.abs(gy);
        if (m > best) {
          best = m;
          dx[y * w + x] = gx;
          dy[y * w + x] = gy;
        }
      }
      mag[y * w + x] = best;
    }
  }
  const M = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : mag[y * w + x]);
  // tan 22.5° in 15-bit fixed point, as canny.cpp: round(0.41421356… × 2^15) = 13573.
  const TG22 = Math.round((Math.SQRT2 - 1) * (1 << 15));
  // 0: not an edge, 1: weak (above low, a local maximum), 2: strong.
  const map = new Uint8Array(w * h);
  const stack: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const m = mag[i];
      if (m <= low) continue;
      const xs = Math.abs(dx[i]);
      const ys = Math.abs(dy[i]);
      const tg22x = xs * TG22;
      const yShift = ys * (1 << 15);
      let isMax: boolean;
      if (yShift < tg22x) isMax = m > M(x - 1, y) && m >= M(x + 1, y);
      else if (yShift > tg22x + xs * (1 << 16)) isMax = m > M(x, y - 1) && m >= M(x, y + 1);
      else {
        const s = (dx[i] ^ dy[i]) < 0 ? -1 : 1;
        isMax = m > M(x - s, y - 1) && m > M(x + s, y + 1);
      }
      if (!isMax) continue;
      map[i] = m > high ? 2 : 1;
      if (map[i] === 2) stack.push(i);
    }
  }
  while (stack.length) {
    const i = stack.pop()!;
    const x = i % w;
    const y = (i - x) / w;
    for (let oy = -1; oy <= 1; oy++) {
      for (let ox = -1; ox <= 1; ox++) {
        const nx = x + ox;
        const ny = y + oy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const j = ny * w + nx;
        if (map[j] === 1) {
          map[j] = 2;
          stack.push(j);
        }
      }
    }
  }
  return map.map((v) => (v === 2 ? 255 : 0));
}

/** Deterministic fixtures: shapes, gradients, soft noise and colour edges, at odd sizes too. */
function fixtures(): { name: string; w: number; h: number; rgb: Uint8Array }[] {
  const make = (name: string, w: number, h: number, f: (x: number, y: number) => [number, number, number]) => {
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set(f(x, y), (y * w + x) * 3);
    return { name, w, h, rgb };
  };
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const noise = Array.from({ length: 41 * 37 }, () => rand());
  const smooth = (x: number, y: number) => {
    let acc = 0;
    for (let oy = -2; oy <= 2; oy++) for (let ox = -2; ox <= 2; ox++) acc += noise[((y + oy + 37) % 37) * 41 + ((x + ox + 41) % 41)];
    return Math.round((acc / 25) * 255);
  };
  return [
    make('box', 32, 32, (x, y) => (x >= 8 && x < 22 && y >= 6 && y < 26 ? [255, 255, 255] : [0, 0, 0])),
    make('disc and ramp', 48, 40, (x, y) => {
      const v = (x - 20) ** 2 + (y - 18) ** 2 < 144 ? 220 : Math.round(x * 3.5);
      return [v, v, v];
    }),
    make('colour edges', 33, 29, (x, y) => [x < 11 ? 200 : 30, y < 14 ? 180 : 60, (x + y) % 7 < 3 ? 90 : 140]),
    make('soft noise', 41, 37, (x, y) => {
      const v = smooth(x, y);
      return [v, 255 - v, (v * 7) % 256];
    }),
    make('faint step', 24, 24, (x) => (x < 12 ? [100, 100, 100] : [130, 130, 130])),
  ];
}

test('canny matches Canny as OpenCV defines it, pixel for pixel, at the defaults and other thresholds', async () => {
  for (const f of fixtures()) {
    for (const [low, high] of [
      [CANNY_DEFAULTS.low, CANNY_DEFAULTS.high],
      [50, 100],
      [20.7, 60.2],
      [150, 400],
    ]) {
      const got = await cannyEdges(f.rgb, f.w, f.h, low, high);
      const want = referenceCanny(f.rgb, f.w, f.h, low, high);
      const wrong = got.reduce((n, v, i) => n + (v !== want[i] ? 1 : 0), 0);
      assert.equal(wrong, 0, `${f.name} at ${low}/${high}: ${wrong} pixels differ`);
    }
  }
});

test('hysteresis: a faint edge (gradient 120) is dropped at 100/200 and kept at 50/100; edges are thin and binary', async () => {
  const faint = fixtures().find((f) => f.name === 'faint step')!;
  const atDefaults = await cannyEdges(faint.rgb, faint.w, faint.h, 100, 200);
  assert.ok(
    atDefaults.every((v) => v === 0),
    'atDefaults.every((v) => v === 0)',
  );
  const lower = await cannyEdges(faint.rgb, faint.w, faint.h, 50, 100);
  for (let y = 0; y < faint.h; y++) {
    const row = Array.from(lower.subarray(y * faint.w, (y + 1) * faint.w));
    assert.equal(row.filter((v) => v === 255).length, 1, `row ${y} has one edge pixel`);
    assert.ok(row[11] === 255 || row[12] === 255, 'row[11] === 255 || row[12] === 255');
  }
  assert.ok(
    lower.every((v) => v === 0 || v === 255),
    'lower.every((v) => v === 0 || v === 255)',
  );
});

test('the control map: canny edges in all three channels at the output size; none passes the picture through', async () => {
  const png = await sharp({ create: { width: 80, height: 60, channels: 3, background: '#000' } })
    .composite([
      {
        input: await sharp({ create: { width: 30, height: 20, channels: 3, background: '#fff' } })
          .png()
          .toBuffer(),
        left: 25,
        top: 20,
      },
    ])
    .png()
    .toBuffer();
  // 80×60 covers 64×64 by scaling to 85×64 and cropping the middle: the box stays in view.
  const map = await controlMapRgb(png, 64, 64, 'canny');
  assert.equal(map.length, 64 * 64 * 3);
  for (let i = 0; i < 64 * 64; i++)
    assert.ok(
      map[3 * i] === map[3 * i + 1] && map[3 * i] === map[3 * i + 2] && (map[3 * i] === 0 || map[3 * i] === 255),
      'map[3 * i] === map[3 * i + 1] && map[3 * i] === map[3 * i + 2] && (map[3 * i] ==',
    );
  const edgeCount = map.filter((v, i) => i % 3 === 0 && v === 255).length;
  assert.ok(edgeCount > 60 && edgeCount < 400, `an outline, not a fill (${edgeCount})`);
  const none = await controlMapRgb(png, 64, 64, 'none');
  assert.ok(
    none.some((v) => v === 255) && none.some((v) => v === 0) && none.filter((v) => v === 255).length > edgeCount * 3,
    'none.some((v) => v === 255) && none.some((v) => v === 0) && none.filter((v) => v',
  );
  const chw = await prepareControlMap(png, 64, 64, 'canny');
  assert.equal(chw.chw.length, 3 * 64 * 64);
  assert.ok(
    chw.chw.every((v) => v === 0 || v === 1),
    'in 0–1, as diffusers feeds ControlNets',
  );
});

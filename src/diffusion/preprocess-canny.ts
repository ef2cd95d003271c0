// Canny edges through OpenCV itself (its WebAssembly build, @techstark/opencv-js), so the map is
// what ControlNet's own annotator (cv2.Canny on the RGB image) gives: 3×3 Sobel, L1 gradient,
// non-maximum suppression and hysteresis between the two thresholds; on a colour image the
// strongest channel's gradient counts.
import { createRequire } from 'node:module';
import { ModelError } from './errors.js';

interface CvMat {
  data: Uint8Array;
  delete(): void;
}
interface OpenCv {
  Mat: new (rows?: number, cols?: number, type?: number) => CvMat;
  CV_8UC3: number;
  Canny(src: CvMat, dst: CvMat, low: number, high: number, apertureSize: number, l2gradient: boolean): void;
}

let loading: Promise<{ cv: OpenCv }> | undefined;

/**
 * Loads the WebAssembly module once per process (about a quarter of a second). The module is an
 * Emscripten thenable whose then() hands back the module itself, itself a thenable: awaiting it
 * would never settle, so it only ever travels wrapped ({ cv }), never as a promise's value.
 */
function openCv(): Promise<{ cv: OpenCv }> {
  loading ??= new Promise<{ cv: OpenCv }>((resolve, reject) => {
    try {
      const mod = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCv & { then?: (cb: () => void) => void };
      if (typeof mod.Mat === 'function' || typeof mod.then !== 'function') resolve({ cv: mod });
      else mod.then(() => resolve({ cv: mod }));
    } catch (err) {
      reject(err);
    }
  })
    .then((loaded) => {
      if (typeof loaded.cv.Canny !== 'function') throw new Error('the module has no Canny');
      return loaded;
    })
    .catch((err: unknown) => {
      loading = undefined;
      throw new ModelError(`OpenCV (for the canny preprocessor) cannot load: ${err instanceof Error ? err.message : String(err)}`);
    });
  return loading;
}

/** cv2.Canny(rgb, low, high) on packed RGB: 255 on edges, 0 elsewhere, one byte per pixel. */
export async function cannyEdges(rgb: Uint8Array, width: number, height: number, low: number, high: number): Promise<Uint8Array> {
  const { cv } = await openCv();
  const src = new cv.Mat(height, width, cv.CV_8UC3);
  const dst = new cv.Mat();
  try {
    src.data.set(rgb);
    cv.Canny(src, dst, low, high, 3, false);
    return new Uint8Array(dst.data);
  } finally {
    src.delete();
    dst.delete();
  }
}

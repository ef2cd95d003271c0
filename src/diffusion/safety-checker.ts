// The model's own safety checker (safety_checker/model.onnx, CompVis' CLIP-based classifier in
// the exports of optimum and diffusers' conversion script): inputs `clip_input` [N, 3, 224, 224]
// (CLIP-preprocessed) and `images` [N, H, W, 3] in [0, 1]; outputs `out_images` (flagged images
// blacked out) and `has_nsfw_concepts` (bool [N]). Like diffusers' ONNX pipeline, one image per
// call. Only the flags are used: the engine never blacks out a picture, the bot decides what to
// do with a flagged one (block, blur or allow).
import type * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { ModelError } from './errors.js';
import { clipPixelValues, readClipPreprocessConfig, type ClipPreprocessConfig } from './clip-preprocess.js';
import { createSession, firstLine, requireInput, requireOutput, type Device, type LoadedSession, type SessionKeepOptions } from './sessions.js';
import { floatTensor, type FloatType } from './tensors.js';

function floatTypeOf(meta: ort.InferenceSession.TensorValueMetadata): FloatType {
  if (meta.type === 'float32' || meta.type === 'float16') return meta.type;
  throw new ModelError(`safety_checker input "${meta.name}" has type ${meta.type}; expected float32 or float16. Re-export the model.`);
}

export class SafetyChecker {
  private constructor(
    private readonly s: LoadedSession,
    private readonly preprocess: ClipPreprocessConfig,
  ) {}

  /** Loads safety_checker/model.onnx of `modelDir`, with feature_extractor/preprocessor_config.json's preprocessing. */
  static async load(modelPath: string, modelDir: string, device: Device, keep: SessionKeepOptions = {}): Promise<SafetyChecker> {
    const s = await createSession(modelPath, device, 'safety_checker', keep);
    requireInput(s, 'safety_checker', ['clip_input']);
    requireInput(s, 'safety_checker', ['images']);
    requireOutput(s, 'safety_checker', ['has_nsfw_concepts']);
    const preprocess = readClipPreprocessConfig(join(modelDir, 'feature_extractor', 'preprocessor_config.json'));
    return new SafetyChecker(s, preprocess);
  }

  /** One flag per image (packed RGB bytes, all width×height): true when the checker flagged it. */
  async check(images: Uint8Array[], width: number, height: number): Promise<boolean[]> {
    const clipMeta = requireInput(this.s, 'safety_checker', ['clip_input']);
    const imagesMeta = requireInput(this.s, 'safety_checker', ['images']);
    // Preprocess first, so the runs follow each other without a pause (a released-when-idle session loads once).
    const clips = [];
    for (const rgb of images) clips.push(await clipPixelValues(rgb, width, height, this.preprocess));
    const flags: boolean[] = [];
    for (const [k, rgb] of images.entries()) {
      const clip = clips[k];
      const unit = new Float32Array(rgb.length);
      for (let i = 0; i < rgb.length; i++) unit[i] = rgb[i] / 255;
      let out: ort.InferenceSession.ReturnType;
      try {
        out = await this.s.session.run({
          [clipMeta.name]: floatTensor(floatTypeOf(clipMeta), clip.data, [1, 3, clip.height, clip.width]),
          [imagesMeta.name]: floatTensor(floatTypeOf(imagesMeta), unit, [1, height, width, 3]),
        });
      } catch (err) {
        throw new ModelError(`safety_checker failed: ${firstLine(err)}. Re-export the model, or remove safety_checker/ to skip the check.`);
      }
      const t = out.has_nsfw_concepts as ort.Tensor;
      flags.push(Boolean((t.data as ArrayLike<number | boolean>)[0]));
    }
    return flags;
  }

  async dispose(): Promise<void> {
    await this.s.session.release();
  }
}

// The UNet's residual feeds for one step, as diffusers' ControlNet pipelines make them: the
// ControlNet runs on the same guidance batch as the UNet (unconditional and conditional halves
// with their own text, the control map repeated for both), its residuals are scaled by
// controlnet_conditioning_scale, and outside [control_guidance_start, control_guidance_end]
// (or at scale 0) the UNet gets zeros, which is what it adds without a ControlNet.
import * as ort from 'onnxruntime-node';
import { controlActive, type ControlNet } from './controlnet.js';
import { residualDims, residualSize, type UnetResiduals } from './controlnet-residuals.js';
import { floatTensor } from './tensors.js';

export interface ControlPlan {
  net: ControlNet;
  /** The control map [3, H, W] in 0–1. */
  map: Float32Array;
  scale: number;
  start: number;
  end: number;
}

export interface StepFeedArgs {
  stepIndex: number;
  /** Length of the step list the loop runs (diffusers' len(timesteps)). */
  stepCount: number;
  sample: Float32Array;
  timestep: number;
  hidden: ort.Tensor;
  extra: Record<string, ort.Tensor>;
}

export class ResidualFeeds {
  private zeros?: Record<string, ort.Tensor>;
  private cond?: Float32Array;

  constructor(
    private readonly residuals: UnetResiduals,
    private readonly plan: ControlPlan | undefined,
    private readonly batch: number,
    private readonly lh: number,
    private readonly lw: number,
  ) {}

  /** The feeds for one step, and whether the ControlNet ran for it. */
  async forStep(a: StepFeedArgs): Promise<{ feeds: Record<string, ort.Tensor>; ran: boolean }> {
    const p = this.plan;
    if (!p || p.scale === 0 || !controlActive(a.stepIndex, a.stepCount, p.start, p.end)) return { feeds: this.zeroFeeds(), ran: false };
    this.cond ??= repeat(p.map, this.batch);
    const outputs = await p.net.run({
      sample: a.sample,
      timestep: a.timestep,
      hidden: a.hidden,
      cond: this.cond,
      extra: a.extra,
      batch: this.batch,
      lh: this.lh,
      lw: this.lw,
      scale: p.scale,
    });
    const feeds: Record<string, ort.Tensor> = {};
    this.residuals.slots.forEach((slot, i) => {
      feeds[slot.name] = floatTensor(slot.type, outputs[i], residualDims(slot, this.batch, this.lh, this.lw));
    });
    return { feeds, ran: true };
  }

  /** Zeros of every residual's shape, made once per job. */
  private zeroFeeds(): Record<string, ort.Tensor> {
    if (this.zeros) return this.zeros;
    const feeds: Record<string, ort.Tensor> = {};
    for (const slot of this.residuals.slots) {
      const dims = residualDims(slot, this.batch, this.lh, this.lw);
      const size = residualSize(slot, this.batch, this.lh, this.lw);
      feeds[slot.name] =
        slot.type === 'float16' ? new ort.Tensor('float16', new Uint16Array(size), dims) : new ort.Tensor('float32', new Float32Array(size), dims);
    }
    this.zeros = feeds;
    return feeds;
  }
}

function repeat(one: Float32Array, times: number): Float32Array {
  const out = new Float32Array(one.length * times);
  for (let i = 0; i < times; i++) out.set(one, i * one.length);
  return out;
}

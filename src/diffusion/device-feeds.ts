// WebGPU only: UNet feeds that are the same tensor every step (prompt embeddings, SDXL's
// text_embeds and time_ids, LCM's timestep_cond) are uploaded once per job and fed from the
// device afterwards, instead of being copied to the GPU on every step. onnxruntime-node can
// hold device tensors for WebGPU (`preferredOutputLocation: 'gpu-buffer'`), not for CUDA.
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

/** Feeds the pipeline builds once per job and passes unchanged to every UNet call. */
export const STEP_CONSTANT_FEEDS = ['encoder_hidden_states', 'text_embeds', 'time_ids', 'timestep_cond'] as const;

export type Uploader = (host: ort.Tensor) => Promise<ort.Tensor>;

/** Keeps one device copy per constant feed, replaced when the host tensor changes (a new job). */
export class DeviceResidentFeeds {
  private readonly cache = new Map<string, { host: ort.Tensor; device: ort.Tensor }>();
  /** Uploads made so far (each one host→device copy). */
  uploads = 0;

  constructor(private readonly upload: Uploader) {}

  /** The feeds with the constant ones on the device, and the host tensors uploaded for it. */
  async map(feeds: ort.InferenceSession.FeedsType): Promise<{ feeds: ort.InferenceSession.FeedsType; uploaded: Record<string, ort.Tensor> }> {
    const out: Record<string, ort.OnnxValue> = { ...feeds };
    const uploaded: Record<string, ort.Tensor> = {};
    for (const name of STEP_CONSTANT_FEEDS) {
      const host = feeds[name] as ort.Tensor | undefined;
      if (host?.location !== 'cpu') continue;
      let entry = this.cache.get(name);
      if (entry?.host !== host) {
        entry?.device.dispose();
        entry = { host, device: await this.upload(host) };
        this.uploads++;
        uploaded[name] = host;
        this.cache.set(name, entry);
      }
      out[name] = entry.device;
    }
    return { feeds: out, uploaded };
  }

  dispose(): void {
    for (const { device } of this.cache.values()) device.dispose();
    this.cache.clear();
  }
}

/** A one-node graph, y = Identity(x) of any shape, for element type `type`. */
function identityModel(type: 'float32' | 'float16'): Uint8Array {
  const { onnx } = onnxProto;
  const elemType = type === 'float16' ? onnx.TensorProto.DataType.FLOAT16 : onnx.TensorProto.DataType.FLOAT;
  const value = (name: string) => ({ name, type: { tensorType: { elemType } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'imagine-bot device upload',
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'upload', node: [{ opType: 'Identity', input: ['x'], output: ['y'] }], input: [value('x')], output: [value('y')] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Uploads through an Identity session on WebGPU whose output stays on the GPU. */
export function webgpuUploader(providers: readonly ort.InferenceSession.ExecutionProviderConfig[]): Uploader {
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  return async (host) => {
    const type = host.type === 'float16' ? 'float16' : 'float32';
    let s = sessions.get(type);
    if (!s) {
      s = ort.InferenceSession.create(identityModel(type), { executionProviders: [...providers], preferredOutputLocation: 'gpu-buffer', logSeverityLevel: 3 });
      sessions.set(type, s);
    }
    const out = await (await s).run({ x: host });
    return out.y as ort.Tensor;
  };
}

// Which ONNX initializer a LoRA module changes. Exports keep few module names on their
// weights: torch.onnx.export names a Conv's weight after its module (`conv_in.weight`) but gives
// a Linear's transposed MatMul weight an anonymous name (`onnx::MatMul_9876`); what it always
// keeps is the module scope in the node name (`/down_blocks.0/attentions.0/…/to_q/MatMul`).
// So every weight a MatMul, Gemm or Conv reads is indexed under both spellings, with the layout
// the consuming node implies (MatMul: [in, out]; Gemm: by transB; Conv: [out, in, kh, kw]).
import onnxProto from 'onnx-proto';

type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;

const FLOAT = onnxProto.onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnxProto.onnx.TensorProto.DataType.FLOAT16;

/** How the weight is stored: [in, out] (MatMul, Gemm without transB) or [out, in, …] (Gemm transB, Conv). */
export type WeightLayout = 'in_out' | 'out_in';

export interface WeightTarget {
  tensor: TensorProto;
  dtype: 'float32' | 'float16';
  dims: number[];
  layout: WeightLayout;
  /** Output features (the dimension a LoRA's up matrix produces). */
  out: number;
  /** Input features times kernel size (what its down matrix reads). */
  inner: number;
  /** The module's dotted path (`down_blocks.0.attentions.0.….to_q`), for writing PEFT names. */
  module: string;
}

const PASS_THROUGH = new Set(['Cast', 'Identity']);

/** `/down_blocks.0/attentions.0/…/to_q/MatMul` → `down_blocks.0.attentions.0.….to_q`. */
export function nodeScopeModule(nodeName: string): string | undefined {
  if (!nodeName.startsWith('/')) return undefined;
  const parts = nodeName.split('/').filter(Boolean);
  if (parts.length < 2) return undefined;
  return parts.slice(0, -1).join('.');
}

/** `down_blocks.0.resnets.0.conv1.weight` → `down_blocks.0.resnets.0.conv1`; anonymous names give nothing. */
export function initializerModule(name: string): string | undefined {
  if (!name.endsWith('.weight') || name.startsWith('onnx::')) return undefined;
  return name.slice(0, -'.weight'.length);
}

/** The one key form both LoRA layouts are matched in: the module path with `_` for `.`. */
export const moduleKey = (module: string) => module.replace(/\./g, '_');

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/** Every LoRA-able weight of a graph, by module key. */
export function indexTargets(graph: onnxProto.onnx.IGraphProto): Map<string, WeightTarget> {
  const inits = new Map<string, TensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) inits.set(t.name, t);
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) producer.set(o, n);

  const targets = new Map<string, WeightTarget>();
  for (const node of graph.node ?? []) {
    const op = node.opType ?? '';
    if (op !== 'MatMul' && op !== 'Gemm' && op !== 'Conv') continue;
    let value = node.input?.[1];
    let transposed = false;
    // Through Cast (float16 storage), Identity and a 2-D Transpose to the stored initializer.
    for (let hops = 0; value && !inits.has(value) && hops < 4; hops++) {
      const p = producer.get(value);
      if (!p || !(PASS_THROUGH.has(p.opType ?? '') || p.opType === 'Transpose')) break;
      if (p.opType === 'Transpose') transposed = !transposed;
      value = p.input?.[0];
    }
    const tensor = value ? inits.get(value) : undefined;
    if (!tensor || (tensor.dataType !== FLOAT && tensor.dataType !== FLOAT16)) continue;
    const dims = (tensor.dims ?? []).map(num);
    let layout: WeightLayout;
    if (op === 'Conv') {
      if (dims.length !== 4 || transposed) continue;
      layout = 'out_in';
    } else {
      if (dims.length !== 2) continue;
      const transB = op === 'Gemm' && (node.attribute ?? []).some((a) => a.name === 'transB' && num(a.i) === 1);
      layout = transB !== transposed ? 'out_in' : 'in_out';
    }
    const out = layout === 'out_in' ? dims[0] : dims[1];
    const inner = dims.reduce((a, b) => a * b, 1) / out;
    const modules = [initializerModule(tensor.name ?? ''), nodeScopeModule(node.name ?? '')].filter((m): m is string => m !== undefined);
    if (modules.length === 0) continue;
    const target: WeightTarget = { tensor, dtype: tensor.dataType === FLOAT ? 'float32' : 'float16', dims, layout, out, inner, module: modules[0] };
    for (const m of modules) if (!targets.has(moduleKey(m))) targets.set(moduleKey(m), target);
  }
  return targets;
}

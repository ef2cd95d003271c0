// A small typed layer over ONNX's protobuf schema (onnx-proto) for writing graphs from
// TypeScript: inputs and outputs with symbolic dimensions, float initializers stored as
// float32 or float16, optionally moved to an external-data side file (how big UNets ship:
// model.onnx + model.onnx_data or weights.pb), and nodes. Values are plain names; node and
// value names come from a counter, so the same build calls always give the same bytes.
import onnxProto from 'onnx-proto';
import { float32ToFloat16 } from '../../diffusion/float16.js';

const { onnx } = onnxProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;
type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** A dimension: a fixed size, or a symbolic name such as 'batch_size'. */
export type Dim = number | string;
export type ElemType = 'float32' | 'float16' | 'int32' | 'int64';

export const ONNX_DATA_TYPE: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
};

/**
 * Node attribute values. A plain number is an INT attribute (it must be an integer); floats
 * are spelled out so that e.g. `alpha: 1` can never silently become an integer.
 */
export type AttrValue = number | readonly number[] | string | { f: number } | { floats: readonly number[] };

export const OPSET = 17;
export const IR_VERSION = 8;
/** onnx.external_data_helper's default: smaller tensors stay inside model.onnx. */
const DEFAULT_EXTERNAL_MIN_BYTES = 1024;

export interface GraphOptions {
  /** The graph's name (informational). */
  name: string;
  /**
   * Storage of float initializers. float16 ones are Cast to float32 where used, which
   * onnxruntime folds away at load time, so the arithmetic stays float32 on every CPU.
   */
  floatStorage?: 'float32' | 'float16';
  /** Moves initializers of at least `minBytes` (default 1024) into one side file, `location`. */
  externalData?: { location: string; minBytes?: number };
}

export interface EncodedModel {
  /** The model.onnx bytes. */
  model: Uint8Array;
  /** The side file, present when external data was requested (possibly empty). */
  externalData?: { location: string; bytes: Uint8Array };
}

function attribute(name: string, v: AttrValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v, 'utf8') };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}=${v}: use { f: ${v} } for a float attribute`);
    return { name, type: T.INT, i: v };
  }
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  if ('floats' in v) return { name, type: T.FLOATS, floats: [...v.floats] };
  return { name, type: T.INTS, ints: [...v] };
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(data: Float32Array | Uint16Array | Int32Array | BigInt64Array): Buffer {
  // Copy: the caller may reuse or mutate its array after handing it over.
  return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly externalChunks: Buffer[] = [];
  private externalSize = 0;
  private counter = 0;

  constructor(private readonly options: GraphOptions) {}

  get floatStorage(): 'float32' | 'float16' {
    return this.options.floatStorage ?? 'float32';
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A float input, returned as a float32 value (Cast in-graph when it is declared float16). */
  floatInput(name: string, type: 'float32' | 'float16', dims: readonly Dim[]): string {
    this.input(name, type, dims);
    return type === 'float16' ? this.op('Cast', [name], { to: ONNX_DATA_TYPE.float32 }) : name;
  }

  /** Declares graph output `name` carrying float32 `value`, cast to float16 when asked. */
  floatOutput(value: string, name: string, type: 'float32' | 'float16', dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
    if (type === 'float16') this.op('Cast', [value], { to: ONNX_DATA_TYPE.float16 }, name);
    else this.op('Identity', [value], {}, name);
  }

  private addInitializer(prefix: string, type: ElemType, raw: Buffer, dims: readonly number[]): string {
    const name = this.fresh(prefix);
    const tensor: TensorProto = { name, dataType: ONNX_DATA_TYPE[type], dims: [...dims] };
    const ext = this.options.externalData;
    if (ext && raw.length >= (ext.minBytes ?? DEFAULT_EXTERNAL_MIN_BYTES)) {
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: ext.location },
        { key: 'offset', value: String(this.externalSize) },
        { key: 'length', value: String(raw.length) },
      ];
      this.externalChunks.push(raw);
      this.externalSize += raw.length;
    } else {
      tensor.rawData = raw;
    }
    this.initializers.push(tensor);
    return name;
  }

  /**
   * A float tensor (weights, constants) in the graph's float storage; returns a float32 value.
   * `dims` must multiply out to data.length.
   */
  floats(prefix: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`${prefix}: ${data.length} values for shape [${dims.join(', ')}]`);
    if (this.floatStorage === 'float32') return this.addInitializer(prefix, 'float32', bytesOf(data), dims);
    const stored = this.addInitializer(prefix, 'float16', bytesOf(float32ToFloat16(data)), dims);
    return this.op('Cast', [stored], { to: ONNX_DATA_TYPE.float32 });
  }

  /** A float scalar (rank 0). */
  scalar(prefix: string, value: number): string {
    return this.floats(prefix, Float32Array.of(value), []);
  }

  /** An int64 tensor, e.g. shapes and axes; rank 1 unless `dims` says otherwise. */
  int64s(prefix: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.addInitializer(prefix, 'int64', bytesOf(BigInt64Array.from(values, (v) => BigInt(v))), dims);
  }

  /** Adds a node and returns its output name (`output` names it, e.g. a graph output). */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      name: this.fresh(opType),
      input: [...inputs],
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  encode(): EncodedModel {
    const model: onnxProto.onnx.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'imagine-bot tiny-model',
      producerVersion: '1',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.options.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    const bytes = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
    const ext = this.options.externalData;
    return {
      model: bytes,
      externalData: ext ? { location: ext.location, bytes: Buffer.concat(this.externalChunks) } : undefined,
    };
  }
}

// A small typed layer over ONNX's protobuf schema (onnx-proto) for writing graphs from
// TypeScript: named inputs/outputs with symbolic dimensions, initializers stored inline or
// as external data (how big UNets ship: model.onnx + model.onnx_data), and nodes.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Dim = number | string;
export type ElemType = 'float32' | 'float16' | 'int32' | 'int64';

const DATA_TYPE: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
};

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[] | undefined): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: dims ? { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

export interface ExternalDataSink {
  /** File name written beside model.onnx, e.g. "model.onnx_data". */
  location: string;
  chunks: Buffer[];
  size: number;
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(
    private readonly name: string,
    private readonly external?: ExternalDataSink,
  ) {}

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** A constant tensor; large float tensors go to the external-data file when one is set. */
  init(prefix: string, data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[]): string {
    const name = this.fresh(prefix);
    const type: ElemType = data instanceof Float32Array ? 'float32' : data instanceof Int32Array ? 'int32' : 'int64';
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const tensor: onnxProto.onnx.ITensorProto = { name, dataType: DATA_TYPE[type], dims: [...dims] };
    if (this.external && type === 'float32' && data.length >= 256) {
      const offset = this.external.size;
      this.external.chunks.push(Buffer.from(raw));
      this.external.size += raw.length;
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: this.external.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ];
    } else {
      tensor.rawData = Buffer.from(raw);
    }
    this.inits.push(tensor);
    return name;
  }

  ints(prefix: string, values: number[]): string {
    return this.init(prefix, BigInt64Array.from(values, (v) => BigInt(v)), [values.length]);
  }

  scalar(prefix: string, value: number): string {
    return this.init(prefix, Float32Array.of(value), []);
  }

  /** Adds a node and returns its (single) output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  encode(opset = 17): Uint8Array {
    const model: onnxProto.onnx.IModelProto = {
      irVersion: 8,
      producerName: 'imagine-bot tiny-model',
      producerVersion: '1',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: this.name, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

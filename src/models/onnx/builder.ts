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
  /**
   * The arithmetic's type (default float32). 'float16' (with float16 storage) leaves weights,
   * inputs and outputs uncast, as real fp16 exports are: GPUs compute in half precision, and
   * ONNX Runtime's CPU provider inserts casts around the nodes it has no float16 kernel for.
   */
  compute?: 'float32' | 'float16';
  /** Moves initializers of at least `minBytes` (default 1024) into one side file, `location`. */
  externalData?: ExternalDataOptions;
}

export interface ExternalDataOptions {
  location: string;
  minBytes?: number;
  /** Start each external tensor at a multiple of this many bytes (ONNX Runtime can then map it; default 1, packed). */
  align?: number;
  /**
   * Where the side file's bytes go as they are made (e.g. a file descriptor), instead of being
   * collected in memory: how multi-gigabyte weights are written without holding them.
   * 'discard' only lays out offsets and counts (shape checks of full-size graphs).
   */
  sink?: ExternalDataSink | 'discard';
}

export interface ExternalDataSink {
  write(bytes: Uint8Array): void;
}

/** Values per chunk when streamed weights are generated (4 MiB of float32). */
const STREAM_CHUNK = 1 << 20;

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
  /** Elements of float initializers written so far (weights and constants). */
  floatElements = 0;

  constructor(private readonly options: GraphOptions) {}

  get floatStorage(): 'float32' | 'float16' {
    return this.options.floatStorage ?? 'float32';
  }

  get compute(): 'float32' | 'float16' {
    return this.options.compute ?? 'float32';
  }

  /** A float32 value from a float16-stored one, unless the graph computes in float16. */
  private toCompute(stored: string): string {
    return this.compute === 'float16' ? stored : this.op('Cast', [stored], { to: ONNX_DATA_TYPE.float32 });
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A float input, returned in the compute type (Cast in-graph when it is declared otherwise). */
  floatInput(name: string, type: 'float32' | 'float16', dims: readonly Dim[]): string {
    this.input(name, type, dims);
    return type === this.compute ? name : this.op('Cast', [name], { to: ONNX_DATA_TYPE[this.compute] });
  }

  /** Declares graph output `name` carrying compute-type `value`, cast to `type` when they differ. */
  floatOutput(value: string, name: string, type: 'float32' | 'float16', dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
    if (type !== this.compute) this.op('Cast', [value], { to: ONNX_DATA_TYPE[type] }, name);
    else this.op('Identity', [value], {}, name);
  }

  private addInitializer(prefix: string, type: ElemType, raw: Buffer, dims: readonly number[]): string {
    const name = this.fresh(prefix);
    const tensor: TensorProto = { name, dataType: ONNX_DATA_TYPE[type], dims: [...dims] };
    if (this.goesExternal(raw.length)) {
      this.markExternal(tensor, raw.length);
      this.emit(raw);
    } else {
      tensor.rawData = raw;
    }
    this.initializers.push(tensor);
    return name;
  }

  private goesExternal(bytes: number): boolean {
    const ext = this.options.externalData;
    return ext !== undefined && bytes >= (ext.minBytes ?? DEFAULT_EXTERNAL_MIN_BYTES);
  }

  /** Points `tensor` at the next (aligned) `length` bytes of the side file. */
  private markExternal(tensor: TensorProto, length: number): void {
    const ext = this.options.externalData!;
    const align = ext.align ?? 1;
    const pad = (align - (this.externalSize % align)) % align;
    if (pad > 0) this.emit(Buffer.alloc(pad));
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: ext.location },
      { key: 'offset', value: String(this.externalSize) },
      { key: 'length', value: String(length) },
    ];
  }

  /** Appends bytes to the side file: to the sink when there is one, else kept for encode(). */
  private emit(bytes: Uint8Array): void {
    const sink = this.options.externalData?.sink;
    if (sink === undefined) this.externalChunks.push(Buffer.from(bytes));
    else if (sink !== 'discard') sink.write(bytes);
    this.externalSize += bytes.length;
  }

  /** The side file's size so far. */
  get externalBytes(): number {
    return this.externalSize;
  }

  /**
   * A float tensor whose values `fill` produces in order, chunk by chunk (each call fills the
   * whole array it gets, the continuation of the previous one). Big tensors bound for the side
   * file are never held whole; with the 'discard' sink, `fill` is not called at all.
   */
  streamedFloats(prefix: string, dims: readonly number[], fill: (chunk: Float32Array) => void): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const bytesPer = this.floatStorage === 'float32' ? 4 : 2;
    if (!this.goesExternal(count * bytesPer)) {
      const data = new Float32Array(count);
      fill(data);
      return this.floats(prefix, data, dims);
    }
    this.floatElements += count;
    const type: ElemType = this.floatStorage;
    const name = this.fresh(prefix);
    const tensor: TensorProto = { name, dataType: ONNX_DATA_TYPE[type], dims: [...dims] };
    this.markExternal(tensor, count * bytesPer);
    if (this.options.externalData?.sink === 'discard') {
      this.externalSize += count * bytesPer;
    } else {
      const chunk = new Float32Array(Math.min(count, STREAM_CHUNK));
      for (let done = 0; done < count; done += chunk.length) {
        const part = count - done < chunk.length ? chunk.subarray(0, count - done) : chunk;
        fill(part);
        this.emit(type === 'float32' ? new Uint8Array(part.buffer, part.byteOffset, part.byteLength) : bytesOf(float32ToFloat16(part)));
      }
    }
    this.initializers.push(tensor);
    return type === 'float16' ? this.toCompute(name) : name;
  }

  /**
   * A float tensor (weights, constants) in the graph's float storage; returns a float32 value.
   * `dims` must multiply out to data.length.
   */
  floats(prefix: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`${prefix}: ${data.length} values for shape [${dims.join(', ')}]`);
    this.floatElements += count;
    if (this.floatStorage === 'float32') return this.addInitializer(prefix, 'float32', bytesOf(data), dims);
    const stored = this.addInitializer(prefix, 'float16', bytesOf(float32ToFloat16(data)), dims);
    return this.toCompute(stored);
  }

  /** A float32 tensor whatever the storage and compute types (operands ONNX wants as float, e.g. Resize scales). */
  float32s(prefix: string, data: Float32Array, dims: readonly number[]): string {
    return this.addInitializer(prefix, 'float32', bytesOf(data), dims);
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
      // With a sink, the bytes have already gone there.
      externalData: ext ? { location: ext.location, bytes: ext.sink === undefined ? Buffer.concat(this.externalChunks) : new Uint8Array(0) } : undefined,
    };
  }
}

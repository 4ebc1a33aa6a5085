/**
 * The only module that imports protobufjs: turns vaecheck's OnnxGraph into ONNX model bytes (large
 * weights as external data, which onnxruntime loads faster and with less memory than an inline
 * protobuf) and reads ONNX model bytes back into an OnnxGraph.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ONNX_FLOAT, ONNX_INT64 } from '../dtype.js';
import type { Attr, Initializer, OnnxGraph, OnnxNode, ValueInfo } from './ir.js';

const IR_VERSION = 8;
const EXTERNAL_MIN_BYTES = 1024;
const EXTERNAL_ALIGN = 4096;

let modelType: protobuf.Type | undefined;

function ModelProto(): protobuf.Type {
  if (!modelType) {
    // the .proto sits beside this file in src/; from dist/src/graph it is three levels up
    const candidates = ['./onnx.proto', '../../../src/graph/onnx.proto'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
    const file = candidates.find((p) => existsSync(p));
    if (!file) throw new Error(`onnx.proto not found (looked in ${candidates.join(', ')})`);
    modelType = protobuf.loadSync(file).lookupType('onnx.ModelProto');
  }
  return modelType;
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7 } as const;

export interface EncodedModel {
  model: Uint8Array;
  /** external data file contents (empty when everything is inline) */
  external: Uint8Array[];
  externalBytes: number;
}

/**
 * Encodes a graph. With `externalFile`, float initializers over 1 KiB are written as external data
 * (page-aligned) referring to that file name, returned in `external` as chunks to concatenate.
 */
export function encodeModel(graph: OnnxGraph, externalFile?: string): EncodedModel {
  const external: Uint8Array[] = [];
  let offset = 0;
  const tensorObj = (t: Initializer, allowExternal: boolean): Record<string, unknown> => {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const base = { name: t.name, dims: t.dims, dataType: t.dataType };
    if (allowExternal && externalFile && bytes.byteLength >= EXTERNAL_MIN_BYTES) {
      const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
      if (pad) external.push(new Uint8Array(pad));
      offset += pad;
      external.push(bytes);
      const entry = {
        ...base,
        dataLocation: 1,
        externalData: [
          { key: 'location', value: externalFile },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(bytes.byteLength) },
        ],
      };
      offset += bytes.byteLength;
      return entry;
    }
    return { ...base, rawData: bytes };
  };
  const graphObj = (g: OnnxGraph, top: boolean): Record<string, unknown> => ({
    name: g.name,
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain ?? '',
      input: n.inputs,
      output: n.outputs,
      attribute: Object.entries(n.attrs).map(([name, a]) => attrObj(name, a)),
    })),
    initializer: g.initializers.map((t) => tensorObj(t, top)),
    input: g.inputs.map(valueInfoObj),
    output: g.outputs.map(valueInfoObj),
  });
  const attrObj = (name: string, a: Attr): Record<string, unknown> => {
    const o: Record<string, unknown> = { name, type: ATTR_TYPE[a.kind] };
    switch (a.kind) {
      case 'float': o.f = a.value; break;
      case 'int': o.i = a.value; break;
      case 'string': o.s = new TextEncoder().encode(a.value); break;
      case 'floats': o.floats = a.value; break;
      case 'ints': o.ints = a.value; break;
      case 'graph': o.g = graphObj(a.value, false); break;
      case 'tensor': o.t = tensorObj(a.value, false); break;
    }
    return o;
  };
  const M = ModelProto();
  const msg = M.fromObject({
    irVersion: IR_VERSION,
    producerName: 'vaecheck',
    opsetImport: [{ domain: '', version: graph.opset }],
    graph: graphObj(graph, true),
  });
  return { model: M.encode(msg).finish(), external, externalBytes: offset };
}

function valueInfoObj(v: ValueInfo): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType,
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Thrown by decodeModel for bytes that are not a readable ONNX model. */
export class OnnxDecodeError extends Error {}

export interface DecodedModel {
  graph: OnnxGraph;
  /** initializers whose data lives in external files: tensor name -> {location, offset, length} */
  externalRefs: Map<string, { location: string; offset: number; length: number }>;
}

/** Decodes ONNX model bytes (external data is referenced, not read). */
export function decodeModel(bytes: Uint8Array): DecodedModel {
  let obj: Record<string, any>;
  try {
    const M = ModelProto();
    obj = M.toObject(M.decode(bytes), { longs: Number, bytes: Uint8Array as unknown as typeof String, defaults: false }) as Record<string, any>;
  } catch (e) {
    throw new OnnxDecodeError(`not an ONNX model (${(e as Error).message})`);
  }
  if (!obj.graph) throw new OnnxDecodeError('not an ONNX model (no graph)');
  const externalRefs = new Map<string, { location: string; offset: number; length: number }>();
  const opset = (obj.opsetImport ?? []).find((o: any) => !o.domain || o.domain === 'ai.onnx')?.version ?? 1;
  const tensor = (t: any): Initializer => {
    const dims: number[] = t.dims ?? [];
    const dataType: number = t.dataType ?? 0;
    if (t.dataLocation === 1 || (t.externalData ?? []).length > 0) {
      const kv = Object.fromEntries((t.externalData ?? []).map((e: any) => [e.key, e.value]));
      externalRefs.set(t.name, { location: kv.location, offset: Number(kv.offset ?? 0), length: Number(kv.length ?? -1) });
      return { name: t.name, dims, dataType, data: new Uint8Array(0) };
    }
    let data: Float32Array | BigInt64Array | Uint8Array;
    if (t.rawData && t.rawData.length > 0) {
      const raw = new Uint8Array(t.rawData);
      data = dataType === ONNX_FLOAT ? new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4)
        : dataType === ONNX_INT64 ? new BigInt64Array(raw.slice().buffer) : raw;
    } else if (t.floatData) data = Float32Array.from(t.floatData);
    else if (t.int64Data) data = BigInt64Array.from((t.int64Data as number[]).map(BigInt));
    else if (t.int32Data) data = new Uint8Array(Int32Array.from(t.int32Data).buffer);
    else data = new Uint8Array(0);
    return { name: t.name ?? '', dims, dataType, data };
  };
  const valueInfo = (v: any): ValueInfo => ({
    name: v.name,
    elemType: v.type?.tensorType?.elemType ?? 0,
    dims: (v.type?.tensorType?.shape?.dim ?? []).map((d: any) => d.dimValue ?? d.dimParam ?? '?'),
  });
  const attr = (a: any): Attr => {
    switch (a.type) {
      case 1: return { kind: 'float', value: a.f ?? 0 };
      case 2: return { kind: 'int', value: a.i ?? 0 };
      case 3: return { kind: 'string', value: new TextDecoder().decode(a.s ?? new Uint8Array()) };
      case 4: return { kind: 'tensor', value: tensor(a.t) };
      case 5: return { kind: 'graph', value: graph(a.g) };
      case 6: return { kind: 'floats', value: a.floats ?? [] };
      case 7: return { kind: 'ints', value: a.ints ?? [] };
      default: throw new OnnxDecodeError(`attribute ${a.name} has unsupported type ${a.type}`);
    }
  };
  const graph = (g: any): OnnxGraph => ({
    name: g.name ?? 'graph',
    nodes: (g.node ?? []).map((n: any, i: number): OnnxNode => ({
      opType: n.opType,
      name: n.name || `${n.opType}_${i}`,
      inputs: n.input ?? [],
      outputs: n.output ?? [],
      domain: n.domain || undefined,
      attrs: Object.fromEntries((n.attribute ?? []).map((a: any) => [a.name, attr(a)])),
    })),
    initializers: (g.initializer ?? []).map(tensor),
    inputs: (g.input ?? []).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
    opset,
    traced: [],
  });
  return { graph: graph(obj.graph), externalRefs };
}

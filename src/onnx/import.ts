/**
 * VAE decoders and encoders exported to ONNX (optimum, diffusers' ONNX pipelines): the graph is read
 * with its external data, upcast to float32 where it was exported in float16, its input and outputs
 * detected, and its float-writing ops marked as trace points named by the graph's node names, so the
 * precision and instrumentation passes apply to it as to vaecheck's own graphs.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bytesToFloat32, ONNX_FLOAT, ONNX_FLOAT16 } from '../dtype.js';
import { BadInputError } from '../errors.js';
import { int } from '../graph/builder.js';
import type { Initializer, OnnxGraph, OnnxNode, TracePoint } from '../graph/ir.js';
import { OnnxDecodeError, decodeModel } from '../graph/onnx-proto.js';
import { elementTypes } from './types.js';

/** Ops whose output is a newly computed tensor (rounded and traced); copies and reshapes are not. */
const COMPUTE_OPS = new Set([
  'Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'Add', 'Sub', 'Mul', 'Div', 'Sigmoid', 'Tanh', 'Relu', 'Softmax',
  'InstanceNormalization', 'GroupNormalization', 'LayerNormalization', 'BatchNormalization', 'Sqrt', 'Pow', 'Exp', 'Erf',
  'ReduceMean', 'Einsum', 'HardSigmoid', 'LeakyRelu', 'Elu', 'Gelu', 'FusedMatMul', 'QuickGelu', 'Reciprocal', 'Neg',
]);

export interface OnnxVae {
  graph: OnnxGraph;
  part: 'decoder' | 'encoder';
  inputName: string;
  /** latent channels (decoder input / encoder output) */
  latentChannels: number;
  /** the encoder's output holds mean and logvar (2L channels) rather than a latent (L) */
  encoderMoments: boolean;
  /** from a config.json beside the model, when there is one */
  config?: { scaling_factor?: number; block_out_channels?: number[] };
}

function readExternal(file: string, ref: { location: string; offset: number; length: number }, tensor: string): Uint8Array {
  const path = join(dirname(file), ref.location);
  if (!existsSync(path)) throw new BadInputError(file, `external data ${ref.location} of tensor ${tensor} not found beside the model`);
  const all = readFileSync(path);
  const len = ref.length >= 0 ? ref.length : all.length - ref.offset;
  if (ref.offset + len > all.length) throw new BadInputError(path, `external data of tensor ${tensor} [${ref.offset}, ${ref.offset + len}) is beyond the file (${all.length} bytes)`);
  return new Uint8Array(all.buffer, all.byteOffset + ref.offset, len);
}

/** Float16 initializers, Casts to float16 and float16 inputs/outputs become float32: the passes emulate precision themselves. */
function upcast(g: OnnxGraph): OnnxGraph {
  const f32 = (t: Initializer): Initializer => (t.dataType === ONNX_FLOAT16 ? { ...t, dataType: ONNX_FLOAT, data: bytesToFloat32(t.data as Uint8Array, 'F16') } : t);
  const nodes: OnnxNode[] = g.nodes.map((n) => {
    const attrs = { ...n.attrs };
    if (n.opType === 'Cast' && attrs.to?.kind === 'int' && attrs.to.value === ONNX_FLOAT16) attrs.to = int(ONNX_FLOAT);
    for (const [k, a] of Object.entries(attrs)) if (a.kind === 'tensor') attrs[k] = { kind: 'tensor', value: f32(a.value) };
    return { ...n, attrs };
  });
  const io = (v: OnnxGraph['inputs'][number]) => (v.elemType === ONNX_FLOAT16 ? { ...v, elemType: ONNX_FLOAT } : v);
  return { ...g, nodes, initializers: g.initializers.map(f32), inputs: g.inputs.map(io), outputs: g.outputs.map(io) };
}

export function loadOnnxVae(file: string): OnnxVae {
  if (!existsSync(file)) throw new BadInputError(file, 'file not found');
  let decoded;
  try {
    decoded = decodeModel(readFileSync(file));
  } catch (e) {
    if (e instanceof OnnxDecodeError) throw new BadInputError(file, e.message);
    throw e;
  }
  const g0 = decoded.graph;
  const initializers = g0.initializers.map((t) => {
    const ref = decoded.externalRefs.get(t.name);
    if (!ref) return t;
    const raw = readExternal(file, ref, t.name);
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return { ...t, data: t.dataType === ONNX_FLOAT ? new Float32Array(copy.buffer) : copy };
  });
  let graph = upcast({ ...g0, initializers });
  const initNames = new Set(graph.initializers.map((i) => i.name));
  const inputs = graph.inputs.filter((v) => !initNames.has(v.name));
  const describe = () => `inputs ${inputs.map((v) => `${v.name}[${v.dims.join(',')}]`).join(', ')}; outputs ${graph.outputs.map((v) => `${v.name}[${v.dims.join(',')}]`).join(', ')}`;
  if (inputs.length !== 1 || inputs[0].elemType !== ONNX_FLOAT || inputs[0].dims.length !== 4 || graph.outputs.length < 1) {
    throw new BadInputError(file, `not a VAE decoder or encoder: expected one float input [batch, channels, height, width] (${describe()})`);
  }
  const input = inputs[0];
  const inC = typeof input.dims[1] === 'number' ? input.dims[1] : NaN;
  const outC = typeof graph.outputs[0].dims[1] === 'number' ? (graph.outputs[0].dims[1] as number) : NaN;
  const looksLatent = /latent|^z$/i.test(input.name);
  let part: 'decoder' | 'encoder';
  if (looksLatent || (inC !== 3 && outC === 3)) part = 'decoder';
  else if (inC === 3 && graph.outputs[0].dims.length === 4) part = 'encoder';
  else throw new BadInputError(file, `not a VAE decoder or encoder: cannot tell from its input and output (${describe()})`);
  if (part === 'decoder' && !(inC > 0)) throw new BadInputError(file, `decoder input has no fixed channel count (${describe()})`);
  const cfgPath = join(dirname(file), 'config.json');
  let config: OnnxVae['config'];
  if (existsSync(cfgPath) && statSync(cfgPath).isFile()) {
    try {
      config = JSON.parse(readFileSync(cfgPath, 'utf8'));
    } catch {
      throw new BadInputError(cfgPath, 'invalid JSON');
    }
  }
  const latentChannels = part === 'decoder' ? inC : outC > 0 ? (outC % 2 === 0 && outC >= 8 ? outC / 2 : outC) : 4;
  // trace points: float outputs of compute ops, named by the graph's node names
  const types = elementTypes(graph);
  const traced: TracePoint[] = [];
  for (const n of graph.nodes) {
    if (!COMPUTE_OPS.has(n.opType) || n.domain) continue;
    const o = n.outputs[0];
    if (types.get(o) === ONNX_FLOAT) traced.push({ tensor: o, name: n.name || o });
  }
  graph = { ...graph, inputs, traced, name: basename(file) };
  return { graph, part, inputName: input.name, latentChannels, encoderMoments: part === 'encoder' && outC === 2 * latentChannels, config };
}

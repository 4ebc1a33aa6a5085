/**
 * VAE decoders and encoders exported to ONNX (optimum, diffusers' ONNX pipelines): the graph is read
 * with its external data, upcast to float32 where it was exported in float16, its input and outputs
 * detected, and its float-writing ops marked as trace points named by the graph's node names, so the
 * precision and instrumentation passes apply to it as to vaecheck's own graphs.
 */
import { closeSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DTYPES, bytesToFloat32, ONNX_FLOAT, ONNX_FLOAT16 } from '../dtype.js';
import { jsonProblem, openRegularFile, quotePath, readAt, readRegularFile, readRegularText, resolveInside } from '../io/safe-path.js';
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
  config?: { scaling_factor?: number; shift_factor?: number | null; block_out_channels?: number[]; use_quant_conv?: boolean; use_post_quant_conv?: boolean };
}

type ExternalRef = { location: string; offset: number; length: number };

/** Byte size of one element per ONNX data type, for the types a weight can have. */
const ELEMENT_BYTES = new Map(Object.values(DTYPES).map((d) => [d.onnx, d.bytes]));

/**
 * Reads every external-data initializer. Each `location` must resolve (symlinks followed) inside the
 * model's folder and name a regular file, as onnx's own loader requires; each file is opened once and
 * read with positioned reads of just the ranges the tensors name (not once per tensor, not whole).
 */
function readExternalData(file: string, refs: ReadonlyMap<string, ExternalRef>, dims: ReadonlyMap<string, { dims: number[]; dataType: number }>): Map<string, Uint8Array> {
  const root = dirname(file);
  const open = new Map<string, { fd: number; size: number }>();
  const out = new Map<string, Uint8Array>();
  try {
    for (const [tensor, ref] of refs) {
      const what = `external data of tensor ${quotePath(tensor)}`;
      const real = resolveInside(root, ref.location, file, what);
      let f = open.get(real);
      if (!f) {
        const { fd, stat } = openRegularFile(real);
        f = { fd, size: stat.size };
        open.set(real, f);
      }
      if (!Number.isSafeInteger(ref.offset) || ref.offset < 0 || !Number.isSafeInteger(ref.length) || ref.length < -1) {
        throw new BadInputError(file, `${what}: invalid offset ${ref.offset} or length ${ref.length}`);
      }
      const t = dims.get(tensor);
      const elem = t ? ELEMENT_BYTES.get(t.dataType) : undefined;
      // the size the dims promise, checked before anything is allocated
      const want = t && elem !== undefined ? t.dims.reduce((a, d) => a * d, elem) : undefined;
      const len = ref.length >= 0 ? ref.length : f.size - ref.offset;
      if (ref.offset > f.size || len < 0 || ref.offset + len > f.size) {
        throw new BadInputError(file, `${what}: bytes [${ref.offset}, ${ref.offset + Math.max(len, 0)}) are beyond ${ref.location} (${f.size} bytes)`);
      }
      if (want !== undefined && (!Number.isSafeInteger(want) || want !== len)) {
        throw new BadInputError(file, `${what}: ${len} bytes, its dims [${t!.dims.join(', ')}] need ${want}`);
      }
      out.set(tensor, readAt(f.fd, real, ref.offset, len));
    }
  } finally {
    for (const { fd } of open.values()) closeSync(fd);
  }
  return out;
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
  let decoded;
  const bytes = readRegularFile(file);
  try {
    decoded = decodeModel(bytes);
  } catch (e) {
    if (e instanceof OnnxDecodeError) throw new BadInputError(file, e.message);
    throw e;
  }
  const g0 = decoded.graph;
  const external = readExternalData(file, decoded.externalRefs, new Map(g0.initializers.map((t) => [t.name, t])));
  const initializers = g0.initializers.map((t) => {
    const raw = external.get(t.name);
    if (!raw) return t;
    // a fresh, aligned copy: Float32Array needs a 4-byte aligned offset
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
  if (existsSync(cfgPath)) {
    const text = readRegularText(cfgPath);
    try {
      config = JSON.parse(text);
    } catch (e) {
      throw new BadInputError(cfgPath, jsonProblem(e));
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new BadInputError(cfgPath, 'config is not a JSON object');
    const sf = config.scaling_factor;
    if (sf !== undefined && !(typeof sf === 'number' && Number.isFinite(sf) && sf > 0)) throw new BadInputError(cfgPath, 'scaling_factor is not a positive number');
    const boc = config.block_out_channels;
    if (boc !== undefined && !(Array.isArray(boc) && boc.length > 0 && boc.length <= 16 && boc.every((c) => Number.isInteger(c) && c > 0))) {
      throw new BadInputError(cfgPath, 'block_out_channels is not a list of positive integers');
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

/**
 * The instrumentation pass: for every traced op, computes inside the graph the largest finite |x|,
 * the number of NaN and the number of Inf of its output, and returns them as one small extra output
 * (`layer_stats`, float64 [traced ops x 3]) from the same run as the decode; no full tensor leaves
 * the graph.
 *
 * Cost: reading every traced tensor is what the pass costs, so the common case reads each one
 * twice (ReduceMax, ReduceMin). Exact NaN / Inf counting needs several more passes, so it runs
 * inside an If only once the run has gone non-finite: the flag is sticky from the first op whose
 * max or min is NaN, ±Inf or beyond 1e18 (past which float32 arithmetic inside later ops can make
 * NaN without an Inf ever being stored). NaN cannot appear in this architecture without such an
 * op upstream, or in the graph input, which is traced as well.
 */
import { ONNX_BOOL, ONNX_DOUBLE, ONNX_FLOAT, ONNX_INT64 } from '../dtype.js';
import { int } from '../graph/builder.js';
import type { Initializer, OnnxGraph, OnnxNode } from '../graph/ir.js';

export const STATS_OUTPUT = 'layer_stats';
const BLOW_UP = 1e18;

export interface LayerStats {
  name: string;
  /** largest finite |x| (0 when none is finite) */
  maxAbs: number;
  nan: number;
  inf: number;
}

/** Adds the stats output to a graph whose traced ops are listed in `graph.traced`. */
export function instrument(graph: OnnxGraph): OnnxGraph {
  const nodes: OnnxNode[] = [];
  const initializers: Initializer[] = [...graph.initializers];
  const constant = (name: string, dataType: number, dims: number[], data: Float32Array | Uint8Array): string => {
    initializers.push({ name, dims, dataType, data, internal: true });
    return name;
  };
  const falseFlag = constant('stats/false', ONNX_BOOL, [], new Uint8Array([0]));
  const limit = constant('stats/limit', ONNX_FLOAT, [], Float32Array.of(BLOW_UP));
  const zeros2 = constant('stats/zeros2', ONNX_DOUBLE, [2], new Uint8Array(new Float64Array(2).buffer));
  const minusOne = constant('stats/minus_one', ONNX_DOUBLE, [], new Uint8Array(Float64Array.of(-1).buffer));
  const oneI64 = constant('stats/one_i64', ONNX_INT64, [1], new Uint8Array(BigInt64Array.of(1n).buffer));
  const node = (opType: string, name: string, inputs: string[], attrs: OnnxNode['attrs'] = {}): string => {
    nodes.push({ opType, name, inputs, outputs: [name], attrs });
    return name;
  };
  const tracedTensors = new Map(graph.traced.map((t, i) => [t.tensor, i]));
  const statOutputs: string[] = new Array(graph.traced.length);
  let flag = falseFlag;

  const addStats = (tensor: string, i: number) => {
    const p = `stats/${i}`;
    // the scalar casts make the comparisons work on float16 tensors too (native half graphs); on
    // float32 they are no-ops that onnxruntime removes
    const mx = node('Cast', `${p}/max_f32`, [node('ReduceMax', `${p}/max`, [tensor], { keepdims: int(0) })], { to: int(ONNX_FLOAT) });
    const mn = node('Cast', `${p}/min_f32`, [node('ReduceMin', `${p}/min`, [tensor], { keepdims: int(0) })], { to: int(ONNX_FLOAT) });
    const m = node('Max', `${p}/absmax`, [node('Abs', `${p}/abs_max`, [mx]), node('Abs', `${p}/abs_min`, [mn])]);
    const bad = node('Not', `${p}/bad`, [node('Less', `${p}/ok`, [m, limit])]);
    flag = node('Or', `${p}/flag`, [flag, bad]);
    const exact = exactBranch(tensor, p);
    const cheap = cheapBranch(m, p);
    nodes.push({ opType: 'If', name: `${p}/if`, inputs: [flag], outputs: [`${p}/stats`], attrs: { then_branch: { kind: 'graph', value: exact }, else_branch: { kind: 'graph', value: cheap } } });
    statOutputs[i] = `${p}/stats`;
    // onnxruntime orders nodes itself and would run every stats node after the whole decode, keeping
    // all traced tensors alive (6.6 GB extra at 64x64). Later ops therefore read the tensor through a
    // Reshape whose shape depends on the stats (shape x 1, never folded away): the stats run first and
    // the tensor can be freed. Reshape does not copy.
    const neverNegative = node('Cast', `${p}/dep_bool`, [node('Less', `${p}/dep_less`, [`${p}/stats`, minusOne])], { to: int(ONNX_INT64) });
    const one = node('Add', `${p}/dep_one`, [node('ReduceMax', `${p}/dep_zero`, [neverNegative], { keepdims: int(1) }), oneI64]);
    const shape = node('Mul', `${p}/dep_shape`, [node('Shape', `${p}/shape`, [tensor]), one]);
    after.set(tensor, node('Reshape', `${p}/after`, [tensor, shape]));
  };
  const after = new Map<string, string>();

  const exactBranch = (t: string, p: string): OnnxGraph => {
    const sub: OnnxNode[] = [];
    const n = (opType: string, name: string, inputs: string[], attrs: OnnxNode['attrs'] = {}) => {
      sub.push({ opType, name: `${p}/exact/${name}`, inputs, outputs: [`${p}/exact/${name}`], attrs });
      return `${p}/exact/${name}`;
    };
    const tf = n('Cast', 'as_f32', [t], { to: int(ONNX_FLOAT) });
    const isNan = n('IsNaN', 'is_nan', [tf]);
    const isInf = n('IsInf', 'is_inf', [tf]);
    const count = (b: string, name: string) => n('ReduceSum', `${name}_sum`, [n('Cast', `${name}_f64`, [b], { to: int(ONNX_DOUBLE) })], { keepdims: int(1) });
    const nanCount = count(isNan, 'nan');
    const infCount = count(isInf, 'inf');
    const finiteAbs = n('Where', 'finite_abs', [n('Or', 'non_finite', [isNan, isInf]), `${p}/exact_zero`, n('Abs', 'abs', [tf])]);
    const mxa = n('Cast', 'max_f64', [n('ReduceMax', 'max', [finiteAbs], { keepdims: int(1) })], { to: int(ONNX_DOUBLE) });
    const flat = (x: string, name: string) => n('Reshape', name, [x, `${p}/exact_one`]);
    const out = n('Concat', 'out', [flat(mxa, 'max_1'), flat(nanCount, 'nan_1'), flat(infCount, 'inf_1')], { axis: int(0) });
    return {
      name: `${p}/exact`,
      nodes: sub,
      initializers: [
        { name: `${p}/exact_zero`, dims: [], dataType: ONNX_FLOAT, data: Float32Array.of(0) },
        { name: `${p}/exact_one`, dims: [1], dataType: 7, data: BigInt64Array.of(1n) },
      ],
      inputs: [],
      outputs: [{ name: out, elemType: ONNX_DOUBLE, dims: [3] }],
      opset: graph.opset,
      traced: [],
    };
  };

  const cheapBranch = (m: string, p: string): OnnxGraph => {
    const name = (s: string) => `${p}/cheap/${s}`;
    const sub: OnnxNode[] = [
      { opType: 'Cast', name: name('m_f64'), inputs: [m], outputs: [name('m_f64')], attrs: { to: int(ONNX_DOUBLE) } },
      { opType: 'Reshape', name: name('m_1'), inputs: [name('m_f64'), `${p}/cheap_one`], outputs: [name('m_1')], attrs: {} },
      { opType: 'Concat', name: name('out'), inputs: [name('m_1'), zeros2], outputs: [name('out')], attrs: { axis: int(0) } },
    ];
    return {
      name: `${p}/cheap`,
      nodes: sub,
      initializers: [{ name: `${p}/cheap_one`, dims: [1], dataType: 7, data: BigInt64Array.of(1n) }],
      inputs: [],
      outputs: [{ name: name('out'), elemType: ONNX_DOUBLE, dims: [3] }],
      opset: graph.opset,
      traced: [],
    };
  };

  // a NaN or Inf in the graph's input sets the flag from the start
  for (const v of graph.inputs) {
    if (v.elemType !== ONNX_FLOAT) continue;
    const p = `stats/input/${v.name}`;
    const sum = node('Abs', `${p}/abs_sum`, [node('ReduceSum', `${p}/sum`, [v.name], { keepdims: int(0) })]);
    flag = node('Or', `${p}/flag`, [flag, node('Not', `${p}/bad`, [node('Less', `${p}/ok`, [sum, limit])])]);
  }
  // stats nodes go right after each traced tensor's producer so the tensor need not live longer
  for (const v of graph.inputs) if (tracedTensors.has(v.name)) addStats(v.name, tracedTensors.get(v.name)!);
  for (const n of graph.nodes) {
    nodes.push({ ...n, inputs: n.inputs.map((i) => after.get(i) ?? i) });
    for (const o of n.outputs) if (tracedTensors.has(o)) addStats(o, tracedTensors.get(o)!);
  }
  const missing = graph.traced.filter((_, i) => statOutputs[i] === undefined);
  if (missing.length) throw new Error(`internal: traced tensor ${missing[0].tensor} is produced by no node`);
  nodes.push({ opType: 'Concat', name: STATS_OUTPUT, inputs: statOutputs, outputs: [STATS_OUTPUT], attrs: { axis: int(0) } });
  return {
    ...graph,
    nodes,
    initializers,
    outputs: [...graph.outputs, { name: STATS_OUTPUT, elemType: ONNX_DOUBLE, dims: [graph.traced.length * 3] }],
  };
}

/** Reads the stats output back into named records, in execution order. */
export function readStats(graph: OnnxGraph, data: ArrayLike<number>): LayerStats[] {
  return graph.traced.map((t, i) => ({ name: t.name, maxAbs: data[3 * i], nan: data[3 * i + 1], inf: data[3 * i + 2] }));
}

/** Stats of one layer over several runs of it (the tiles of a tiled decode): largest |x|, summed counts. */
export function mergeLayerStats(a: readonly LayerStats[], b: readonly LayerStats[]): LayerStats[] {
  if (a.length !== b.length) throw new Error(`internal: merging stats of ${a.length} and ${b.length} layers`);
  return a.map((l, i) => ({ name: l.name, maxAbs: Math.max(l.maxAbs, b[i].maxAbs), nan: l.nan + b[i].nan, inf: l.inf + b[i].inf }));
}

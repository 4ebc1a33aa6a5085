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
  const b = new StatsBuilder(graph);
  const traced = new Map(graph.traced.map((t, i) => [t.tensor, i]));
  // a NaN or Inf in the graph's input sets the flag from the start
  for (const v of graph.inputs) if (v.elemType === ONNX_FLOAT) b.flagInput(v.name);
  // stats nodes go right after each traced tensor's producer so the tensor need not live longer
  for (const v of graph.inputs) if (traced.has(v.name)) b.addStats(v.name, traced.get(v.name)!);
  for (const n of graph.nodes) {
    b.copy(n);
    for (const o of n.outputs) if (traced.has(o)) b.addStats(o, traced.get(o)!);
  }
  return b.finish();
}

/** Builds the instrumented graph: the original nodes, each traced tensor's stats, and the flag. */
class StatsBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: Initializer[];
  private readonly statOutputs: string[];
  /** traced tensor -> the Reshape later ops read it through (see orderAfterStats) */
  private readonly after = new Map<string, string>();
  private readonly c: { limit: string; zeros2: string; minusOne: string; oneI64: string };
  /** the sticky "went non-finite" flag so far */
  private flag: string;

  constructor(private readonly graph: OnnxGraph) {
    this.initializers = [...graph.initializers];
    this.statOutputs = new Array(graph.traced.length);
    this.flag = this.constant('stats/false', ONNX_BOOL, [], new Uint8Array([0]));
    this.c = {
      limit: this.constant('stats/limit', ONNX_FLOAT, [], Float32Array.of(BLOW_UP)),
      zeros2: this.constant('stats/zeros2', ONNX_DOUBLE, [2], new Uint8Array(new Float64Array(2).buffer)),
      minusOne: this.constant('stats/minus_one', ONNX_DOUBLE, [], new Uint8Array(Float64Array.of(-1).buffer)),
      oneI64: this.constant('stats/one_i64', ONNX_INT64, [1], new Uint8Array(BigInt64Array.of(1n).buffer)),
    };
  }

  private constant(name: string, dataType: number, dims: number[], data: Float32Array | Uint8Array): string {
    this.initializers.push({ name, dims, dataType, data, internal: true });
    return name;
  }

  private node(opType: string, name: string, inputs: string[], attrs: OnnxNode['attrs'] = {}): string {
    this.nodes.push({ opType, name, inputs, outputs: [name], attrs });
    return name;
  }

  /** An original node, reading traced tensors through their post-stats Reshape. */
  copy(n: OnnxNode): void {
    this.nodes.push({ ...n, inputs: n.inputs.map((i) => this.after.get(i) ?? i) });
  }

  /** Sets the flag when a graph input's sum is NaN, infinite or beyond the blow-up limit. */
  flagInput(name: string): void {
    const p = `stats/input/${name}`;
    const sum = this.node('Abs', `${p}/abs_sum`, [this.node('ReduceSum', `${p}/sum`, [name], { keepdims: int(0) })]);
    this.flag = this.node('Or', `${p}/flag`, [this.flag, this.node('Not', `${p}/bad`, [this.node('Less', `${p}/ok`, [sum, this.c.limit])])]);
  }

  /** The stats of traced tensor number `i`: cheap (max |x| only) until the flag is up, exact after. */
  addStats(tensor: string, i: number): void {
    const p = `stats/${i}`;
    // the scalar casts make the comparisons work on float16 tensors too (native half graphs); on
    // float32 they are no-ops that onnxruntime removes
    const mx = this.node('Cast', `${p}/max_f32`, [this.node('ReduceMax', `${p}/max`, [tensor], { keepdims: int(0) })], { to: int(ONNX_FLOAT) });
    const mn = this.node('Cast', `${p}/min_f32`, [this.node('ReduceMin', `${p}/min`, [tensor], { keepdims: int(0) })], { to: int(ONNX_FLOAT) });
    const m = this.node('Max', `${p}/absmax`, [this.node('Abs', `${p}/abs_max`, [mx]), this.node('Abs', `${p}/abs_min`, [mn])]);
    const bad = this.node('Not', `${p}/bad`, [this.node('Less', `${p}/ok`, [m, this.c.limit])]);
    this.flag = this.node('Or', `${p}/flag`, [this.flag, bad]);
    const exact = exactBranch(tensor, p, this.graph.opset);
    const cheap = cheapBranch(m, p, this.c.zeros2, this.graph.opset);
    this.nodes.push({ opType: 'If', name: `${p}/if`, inputs: [this.flag], outputs: [`${p}/stats`], attrs: { then_branch: { kind: 'graph', value: exact }, else_branch: { kind: 'graph', value: cheap } } });
    this.statOutputs[i] = `${p}/stats`;
    this.orderAfterStats(tensor, p);
  }

  /**
   * onnxruntime orders nodes itself and would run every stats node after the whole decode, keeping
   * all traced tensors alive (6.6 GB extra at 64x64). Later ops therefore read the tensor through a
   * Reshape whose shape depends on the stats (shape x 1, never folded away): the stats run first and
   * the tensor can be freed. Reshape does not copy.
   */
  private orderAfterStats(tensor: string, p: string): void {
    const neverNegative = this.node('Cast', `${p}/dep_bool`, [this.node('Less', `${p}/dep_less`, [`${p}/stats`, this.c.minusOne])], { to: int(ONNX_INT64) });
    const one = this.node('Add', `${p}/dep_one`, [this.node('ReduceMax', `${p}/dep_zero`, [neverNegative], { keepdims: int(1) }), this.c.oneI64]);
    const shape = this.node('Mul', `${p}/dep_shape`, [this.node('Shape', `${p}/shape`, [tensor]), one]);
    this.after.set(tensor, this.node('Reshape', `${p}/after`, [tensor, shape]));
  }

  /** The graph with the stats of every traced op concatenated into one extra output. */
  finish(): OnnxGraph {
    const missing = this.graph.traced.filter((_, i) => this.statOutputs[i] === undefined);
    if (missing.length) throw new Error(`internal: traced tensor ${missing[0].tensor} is produced by no node`);
    this.nodes.push({ opType: 'Concat', name: STATS_OUTPUT, inputs: this.statOutputs, outputs: [STATS_OUTPUT], attrs: { axis: int(0) } });
    return {
      ...this.graph,
      nodes: this.nodes,
      initializers: this.initializers,
      outputs: [...this.graph.outputs, { name: STATS_OUTPUT, elemType: ONNX_DOUBLE, dims: [this.graph.traced.length * 3] }],
    };
  }
}

/** The If branch once the run is non-finite: exact NaN and Inf counts and the largest finite |x|. */
function exactBranch(t: string, p: string, opset: number): OnnxGraph {
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
      { name: `${p}/exact_one`, dims: [1], dataType: ONNX_INT64, data: BigInt64Array.of(1n) },
    ],
    inputs: [],
    outputs: [{ name: out, elemType: ONNX_DOUBLE, dims: [3] }],
    opset,
    traced: [],
  };
}

/** The If branch while the run is finite: the max |x| already computed, and zero counts. */
function cheapBranch(m: string, p: string, zeros2: string, opset: number): OnnxGraph {
  const name = (s: string) => `${p}/cheap/${s}`;
  const sub: OnnxNode[] = [
    { opType: 'Cast', name: name('m_f64'), inputs: [m], outputs: [name('m_f64')], attrs: { to: int(ONNX_DOUBLE) } },
    { opType: 'Reshape', name: name('m_1'), inputs: [name('m_f64'), `${p}/cheap_one`], outputs: [name('m_1')], attrs: {} },
    { opType: 'Concat', name: name('out'), inputs: [name('m_1'), zeros2], outputs: [name('out')], attrs: { axis: int(0) } },
  ];
  return {
    name: `${p}/cheap`,
    nodes: sub,
    initializers: [{ name: `${p}/cheap_one`, dims: [1], dataType: ONNX_INT64, data: BigInt64Array.of(1n) }],
    inputs: [],
    outputs: [{ name: name('out'), elemType: ONNX_DOUBLE, dims: [3] }],
    opset,
    traced: [],
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

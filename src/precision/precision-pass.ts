/**
 * The precision pass: makes an fp32 graph compute as a GPU does in fp16 or bf16. Model weights are
 * rounded to the target type (round to nearest even); the graph's float inputs and the output of
 * every traced op go through a Cast(float -> half) -> Cast(half -> float) pair, so values beyond the
 * type's range become ±Inf and flow on into NaN exactly as in half precision. Inside each op the
 * arithmetic stays float32, as GPU kernels accumulate in float32. onnxruntime keeps lossy cast pairs
 * at every optimization level (ARCHITECTURE.md, "Half precision").
 */
import { type Precision, ONNX_BFLOAT16, ONNX_FLOAT, ONNX_FLOAT16, roundInPlace } from '../dtype.js';
import { int } from '../graph/builder.js';
import type { Initializer, OnnxGraph, OnnxNode } from '../graph/ir.js';

const HALF_TYPE: Record<Exclude<Precision, 'fp32'>, number> = { fp16: ONNX_FLOAT16, bf16: ONNX_BFLOAT16 };

/** Returns a new graph computing in `precision` (the input graph is not changed; fp32 returns it as is). */
export function applyPrecision(graph: OnnxGraph, precision: Precision): OnnxGraph {
  if (precision === 'fp32') return graph;
  const half = HALF_TYPE[precision];
  const initializers: Initializer[] = graph.initializers.map((t) =>
    t.dataType === ONNX_FLOAT && !t.internal ? { ...t, data: roundInPlace(Float32Array.from(t.data as Float32Array), precision) } : t,
  );
  const rounded = new Set<string>(graph.traced.map((t) => t.tensor));
  // each rounded op output keeps its name: its producer now writes `<name>/unrounded`
  const rawName = (t: string) => `${t}/unrounded`;
  const castPair = (from: string, to: string): OnnxNode[] => [
    { opType: 'Cast', name: `${to}/to_${precision}`, inputs: [from], outputs: [`${to}/${precision}`], attrs: { to: int(half) } },
    { opType: 'Cast', name: `${to}/to_fp32`, inputs: [`${to}/${precision}`], outputs: [to], attrs: { to: int(ONNX_FLOAT) } },
  ];
  const nodes: OnnxNode[] = [];
  // graph inputs keep their names (callers feed them); their consumers read a rounded copy
  const inputRenames = new Map<string, string>();
  for (const v of graph.inputs) {
    if (v.elemType !== ONNX_FLOAT) continue;
    inputRenames.set(v.name, `${v.name}/${precision}_rounded`);
    nodes.push(...castPair(v.name, `${v.name}/${precision}_rounded`));
  }
  for (const n of graph.nodes) {
    const inputs = n.inputs.map((i) => inputRenames.get(i) ?? i);
    const outs = n.outputs.map((o) => (rounded.has(o) ? rawName(o) : o));
    nodes.push({ ...n, inputs, outputs: outs });
    for (const o of n.outputs) if (rounded.has(o)) nodes.push(...castPair(rawName(o), o));
  }
  return { ...graph, name: `${graph.name}_${precision}`, nodes, initializers };
}

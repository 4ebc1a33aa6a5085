/**
 * Native float16: the graph itself computes in float16 (weights and every tensor stored as float16),
 * for a GPU execution provider whose kernels run in half precision. Inputs and outputs stay float32
 * (a Cast at each end), so callers feed and read the same tensors as with the emulated graphs.
 *
 * On x86 CPUs onnxruntime runs such a graph by wrapping its ops in casts and merging them into float32
 * stretches, which hides overflow (ARCHITECTURE.md, "Half precision"): there the emulated graph (precision-pass.ts) is the
 * faithful one, and this pass is used only with --device cuda.
 */
import { ONNX_FLOAT, ONNX_FLOAT16, float32ToBytes } from '../dtype.js';
import { int } from '../graph/builder.js';
import type { Initializer, OnnxGraph, OnnxNode } from '../graph/ir.js';

/** Inputs that must stay float32 whatever the data type: Resize's roi and scales. */
const KEEP_FLOAT: Record<string, number[]> = { Resize: [1, 2] };

export function toNativeHalf(graph: OnnxGraph): OnnxGraph {
  const keep = new Set<string>();
  for (const n of graph.nodes) for (const i of KEEP_FLOAT[n.opType] ?? []) if (n.inputs[i]) keep.add(n.inputs[i]);
  const initializers: Initializer[] = graph.initializers.map((t) =>
    t.dataType === ONNX_FLOAT && !keep.has(t.name) ? { ...t, dataType: ONNX_FLOAT16, data: float32ToBytes(t.data as Float32Array, 'F16') } : t,
  );
  const nodes: OnnxNode[] = [];
  const inputRename = new Map<string, string>();
  for (const v of graph.inputs) {
    if (v.elemType !== ONNX_FLOAT) continue;
    inputRename.set(v.name, `${v.name}/fp16`);
    nodes.push({ opType: 'Cast', name: `${v.name}/to_fp16`, inputs: [v.name], outputs: [`${v.name}/fp16`], attrs: { to: int(ONNX_FLOAT16) } });
  }
  const outputs = new Set(graph.outputs.filter((v) => v.elemType === ONNX_FLOAT).map((v) => v.name));
  for (const n of graph.nodes) {
    const attrs = { ...n.attrs };
    if (n.opType === 'Cast' && attrs.to?.kind === 'int' && attrs.to.value === ONNX_FLOAT) attrs.to = int(ONNX_FLOAT16);
    nodes.push({ ...n, attrs, inputs: n.inputs.map((i) => inputRename.get(i) ?? i), outputs: n.outputs.map((o) => (outputs.has(o) ? `${o}/fp16` : o)) });
    for (const o of n.outputs) {
      if (outputs.has(o)) nodes.push({ opType: 'Cast', name: `${o}/to_fp32`, inputs: [`${o}/fp16`], outputs: [o], attrs: { to: int(ONNX_FLOAT) } });
    }
  }
  // a traced graph output is now the float32 copy of the float16 tensor: same values
  return { ...graph, name: `${graph.name}_native_fp16`, nodes, initializers };
}

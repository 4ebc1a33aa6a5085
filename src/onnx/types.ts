/**
 * Element types of every tensor of a foreign ONNX graph, propagated from inputs, initializers and a
 * few op rules, so that passes know which ops write float tensors (only those are rounded and traced;
 * shape arithmetic in int64 is left alone).
 */
import { ONNX_BOOL, ONNX_FLOAT, ONNX_INT64 } from '../dtype.js';
import type { OnnxGraph } from '../graph/ir.js';

const TO_INT64 = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
const TO_BOOL = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

export function elementTypes(g: OnnxGraph): Map<string, number> {
  const t = new Map<string, number>();
  for (const v of g.inputs) t.set(v.name, v.elemType);
  for (const i of g.initializers) t.set(i.name, i.dataType);
  for (const n of g.nodes) {
    let type: number | undefined;
    if (TO_INT64.has(n.opType)) type = ONNX_INT64;
    else if (TO_BOOL.has(n.opType)) type = ONNX_BOOL;
    else if (n.opType === 'Cast') type = n.attrs.to?.kind === 'int' ? n.attrs.to.value : undefined;
    else if (n.opType === 'Constant') type = n.attrs.value?.kind === 'tensor' ? n.attrs.value.value.dataType : n.attrs.value_float || n.attrs.value_floats ? ONNX_FLOAT : ONNX_INT64;
    else if (n.opType === 'ConstantOfShape') type = n.attrs.value?.kind === 'tensor' ? n.attrs.value.value.dataType : ONNX_FLOAT;
    else if (n.opType === 'Where') type = t.get(n.inputs[1]);
    else type = t.get(n.inputs.find((x) => x !== '') ?? '');
    for (const o of n.outputs) if (type !== undefined) t.set(o, type);
  }
  return t;
}

/**
 * vaecheck's in-memory form of an ONNX graph: plain objects shaped like ONNX's GraphProto, so that
 * graphs vaecheck builds and graphs read from .onnx files go through the same passes.
 */

export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'graph'; value: OnnxGraph }
  | { kind: 'tensor'; value: Initializer };

export interface OnnxNode {
  opType: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
  domain?: string;
}

/** A constant tensor. Float32 data as Float32Array, int64 as BigInt64Array, anything else raw little-endian bytes. */
export interface Initializer {
  name: string;
  dims: number[];
  dataType: number;
  data: Float32Array | BigInt64Array | Uint8Array;
  /** a constant of the graph's own arithmetic (not a model weight): kept in float32 by the precision pass */
  internal?: boolean;
}

export interface ValueInfo {
  name: string;
  elemType: number;
  /** a number, or a symbolic name for a dynamic dimension */
  dims: (number | string)[];
}

/**
 * A tensor whose statistics are traced and whose value is rounded by the precision pass: the output
 * of one op, named by the module path of the layer that writes it
 * (`decoder.up_blocks.3.resnets.0.conv1`, `decoder.mid_block.attentions.0.attn_core`).
 */
export interface TracePoint {
  tensor: string;
  name: string;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: Initializer[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** ai.onnx opset version */
  opset: number;
  /** traced ops in execution order */
  traced: TracePoint[];
}

export const OPSET = 18;

/**
 * A small graph builder: adds nodes and initializers with unique names and records trace points.
 * Node names mirror checkpoint keys so that a weight's initializer is `<node name>.weight`.
 */
import { ONNX_FLOAT, ONNX_INT64 } from '../dtype.js';
import { type Attr, type Initializer, type OnnxGraph, type OnnxNode, OPSET, type TracePoint, type ValueInfo } from './ir.js';

export const int = (value: number): Attr => ({ kind: 'int', value });
export const ints = (value: number[]): Attr => ({ kind: 'ints', value });
export const float = (value: number): Attr => ({ kind: 'float', value });
export const str = (value: string): Attr => ({ kind: 'string', value });

export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: Initializer[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly traced: TracePoint[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(readonly name: string) {}

  /** A unique tensor / node name based on `base`. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: (number | string)[], elemType = ONNX_FLOAT): string {
    this.used.add(name);
    this.inputs.push({ name, elemType, dims });
    return name;
  }

  output(tensor: string, dims: (number | string)[], elemType = ONNX_FLOAT): void {
    this.outputs.push({ name: tensor, elemType, dims });
  }

  /** Adds a float32 initializer under exactly `name` (a checkpoint key). */
  weight(name: string, dims: number[], data: Float32Array): string {
    if (this.used.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.used.add(name);
    this.initializers.push({ name, dims, dataType: ONNX_FLOAT, data });
    return name;
  }

  /** A shared int64 constant (shapes, axes). */
  int64(values: number[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.unique(`const_i64_${values.join('_').replace(/-/g, 'm')}`);
      this.initializers.push({ name, dims: [values.length], dataType: ONNX_INT64, data: BigInt64Array.from(values.map(BigInt)), internal: true });
      this.constants.set(key, name);
    }
    return name;
  }

  /** A shared float32 constant of the given shape. */
  float32(values: number[], dims: number[] = [values.length]): string {
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.unique('const_f32');
      this.initializers.push({ name, dims, dataType: ONNX_FLOAT, data: Float32Array.from(values), internal: true });
      this.constants.set(key, name);
    }
    return name;
  }

  /**
   * Adds a node; returns its first output's name. `name` is used for the node and, made unique, for
   * its output tensor.
   */
  node(opType: string, name: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.multi(opType, name, inputs, attrs, 1)[0];
  }

  /** Adds a node with several outputs (`<name>:0`, `<name>:1`, …); returns their names. */
  multi(opType: string, name: string, inputs: string[], attrs: Record<string, Attr>, outputCount: number): string[] {
    const nodeName = this.unique(name);
    const outputs = outputCount === 1 ? [nodeName] : Array.from({ length: outputCount }, (_, i) => this.unique(`${nodeName}:${i}`));
    this.nodes.push({ opType, name: nodeName, inputs, outputs, attrs });
    return outputs;
  }

  /** Marks `tensor` as the output of the traced op `name`. */
  trace(tensor: string, name: string): string {
    this.traced.push({ tensor, name });
    return tensor;
  }

  build(): OnnxGraph {
    return {
      name: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      opset: OPSET,
      traced: this.traced,
    };
  }
}

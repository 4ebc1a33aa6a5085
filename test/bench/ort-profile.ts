/**
 * Reads an onnxruntime profile (the Chrome-trace JSON that enableProfiling writes) and sums kernel
 * time per kind of work, for the benchmark's per-op-type table.
 *
 * Each executed node leaves a `<node name>_kernel_time` event (category "Node", microseconds, with
 * args.op_name); each run leaves a `model_run` event (category "Session"). Only the last run is
 * summed, so a profile taken after a warm-up run shows the steady state.
 *
 * Kinds: the op type decides, except where vaecheck's node names say more (graph builder names
 * mirror module paths: `…norm1/scale` is a GroupNorm's affine Mul, `stats/…` the instrumentation).
 * onnxruntime renames what it fuses or re-lays-out (e.g. `…conv1_nchwc`, QuickGelu for x*sigmoid(x)),
 * which the op type still identifies.
 */
import { readFileSync } from 'node:fs';

export const KINDS = ['Conv', 'normalisation', 'activation', 'Add', 'Resize', 'attention', 'Cast', 'layout reorders', 'copies / shapes', 'instrumentation', 'other'] as const;
export type Kind = (typeof KINDS)[number];

interface TraceEvent {
  cat?: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

export interface ProfileSummary {
  /** seconds of kernel time per kind in the last run */
  seconds: Record<Kind, number>;
  /** kernel executions per kind in the last run */
  count: Record<Kind, number>;
  /** sum of kernel times (seconds) */
  kernelS: number;
  /** the last run as onnxruntime timed it (seconds): kernels + executor overhead */
  runS: number;
}

/** The kind of work a kernel does, from its op type and node name. */
export function kindOf(op: string, node: string): Kind {
  if (node.startsWith('stats/')) return 'instrumentation';
  if (op === 'Conv' || op === 'FusedConv' || op === 'NchwcConv') return 'Conv';
  if (op === 'ReorderInput' || op === 'ReorderOutput') return 'layout reorders';
  if (op === 'Cast') return 'Cast';
  if (/Normalization$|^GroupNorm|^SkipGroupNorm|^Reduce(Mean|SumSquare|Sum)$/.test(op)) return 'normalisation';
  if (/attentions?\.\d|attention/.test(node) && /MatMul|Softmax|Transpose|Concat|Slice|Mul|Div|Add/.test(op)) return 'attention';
  if (/(norm\d?|norm_out|group_norm)(\/|$)/.test(node) && /^(Mul|Add|Sub|Div|Sqrt|Pow)$/.test(op)) return 'normalisation';
  if (/^(Sigmoid|QuickGelu|Silu|Relu|Tanh|Gelu|FastGelu|HardSigmoid|HardSwish)$/.test(op)) return 'activation';
  if (op === 'Mul' && /act\d?|conv_act/.test(node)) return 'activation';
  if (op === 'Add' || op === 'Sum') return 'Add';
  if (op === 'Resize' || op === 'Upsample') return 'Resize';
  if (/^(Reshape|Shape|Identity|Transpose|Concat|Slice|Squeeze|Unsqueeze|Expand|Flatten|MemcpyFromHost|MemcpyToHost|Gather)$/.test(op)) return 'copies / shapes';
  return 'other';
}

/** Sums the last run of a profile by kind. */
export function summarizeProfile(path: string): ProfileSummary {
  const events = JSON.parse(readFileSync(path, 'utf8')) as TraceEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs.at(-1);
  if (!last) throw new Error(`${path}: no model_run event`);
  const seconds = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const count = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  let kernelS = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    if (e.ts < last.ts || e.ts > last.ts + last.dur) continue;
    const kind = kindOf(e.args?.op_name ?? '', e.name.slice(0, -'_kernel_time'.length));
    seconds[kind] += e.dur / 1e6;
    count[kind]++;
    kernelS += e.dur / 1e6;
  }
  return { seconds, count, kernelS, runS: last.dur / 1e6 };
}

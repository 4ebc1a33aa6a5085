/**
 * Plans an exact fp16 fix of an AutoencoderKL: powers of two by which to multiply each stage of the
 * residual stream, and each resnet's conv1 output, so that every rescalable activation stays at or
 * below 65504 / headroom.
 *
 * Why it is exact: GroupNorm's output does not change when its input is multiplied by a positive
 * constant (up to its epsilon), and every path from the residual stream to the output passes through
 * a GroupNorm (norm1, the attention's group_norm, conv_norm_out). So the stream may carry any scale
 * as long as every layer writing into it writes at that scale; conv1's output is read only by norm2,
 * so it may carry its own. Powers of two are exact in floating point.
 *
 * The stream's scale can change only where a layer writes the whole stream afresh: conv_in, a
 * resnet with a conv_shortcut (its output is shortcut + conv2, both written by convs), an up- or
 * downsampler conv. Between those points it is one stage with one scale.
 */
import { partLayout } from '../architecture/layout.js';
import type { Part, VaeArchitecture } from '../architecture/vae-architecture.js';
import type { LayerStats } from '../precision/instrument.js';

export type { Part };

/** What multiplies a weight tensor: `weight` and `bias` factors of one conv / linear layer. */
export interface LayerScale {
  layer: string;
  weight: number;
  bias: number;
}

export interface Stage {
  /** the op that opens the stage (conv_in, an upsampler conv, a shortcut resnet) */
  opens: string;
  /** stream ops of this stage, whose maxAbs set its scale */
  ops: string[];
  scale: number;
  maxAbs: number;
}

export interface FixPlan {
  part: Part;
  target: number;
  stages: Stage[];
  /** conv1 layer -> its own scale */
  conv1: Map<string, { scale: number; maxAbs: number }>;
  layers: LayerScale[];
  /** ops whose activations no rescaling reaches (after a GroupNorm's affine, a SiLU, inside attention, the output) */
  unreachable: string[];
}

/** The largest power of two p <= 1 with maxAbs * p <= target (1 when already below). */
export function powerOfTwoScale(maxAbs: number, target: number): number {
  if (!(maxAbs > target)) return 1;
  return 2 ** Math.floor(Math.log2(target / maxAbs));
}

interface Walk {
  /** resnet paths in execution order, with whether they have a shortcut */
  resnets: { path: string; shortcut: boolean }[];
  attentions: string[];
  /**
   * stream ops in execution order, each with whether it opens a new stage (conv_in, an up- or
   * downsampler conv, a resnet's conv_shortcut); the rest are written at the current stage's scale
   */
  streamOps: { op: string; opens: boolean }[];
  /** the latent-space 1x1 convs (post_quant_conv / quant_conv) of the part: outside the stream */
  latentConvs: string[];
}

/** The residual stream of a part, read off its layout (src/architecture/layout.ts). */
function walk(arch: VaeArchitecture, part: Part): Walk {
  const w: Walk = { resnets: [], attentions: [], streamOps: [], latentConvs: [] };
  for (const node of partLayout(arch, part).layers) {
    if (node.kind === 'conv' && node.role === 'in') w.streamOps.push({ op: node.path, opens: true });
    else if (node.kind === 'conv' && node.role === 'latent') w.latentConvs.push(node.path);
    else if (node.kind === 'resnet') {
      w.resnets.push({ path: node.path, shortcut: node.shortcut });
      if (node.shortcut) w.streamOps.push({ op: `${node.path}.conv_shortcut`, opens: true });
      w.streamOps.push({ op: `${node.path}.conv2`, opens: false }, { op: `${node.path}.add`, opens: false });
    } else if (node.kind === 'attention') {
      w.attentions.push(node.path);
      w.streamOps.push({ op: `${node.path}.to_out.0`, opens: false }, { op: `${node.path}.add`, opens: false });
    } else if (node.kind === 'upsample' || node.kind === 'downsample') w.streamOps.push({ op: `${node.path}.conv`, opens: true });
  }
  return w;
}

/**
 * @param stats per-op largest |x| over the calibration inputs (fp32), by op name
 * @param headroom keep every rescalable tensor at or below 65504 / headroom
 */
export function planFix(arch: VaeArchitecture, part: Part, stats: ReadonlyMap<string, LayerStats>, headroom: number): FixPlan {
  const target = 65504 / headroom;
  const max = (op: string) => stats.get(op)?.maxAbs ?? 0;
  const w = walk(arch, part);
  // assign every stream op to a stage, in execution order
  const stages: Stage[] = [];
  const stageOf = new Map<string, number>();
  for (const { op, opens } of w.streamOps) {
    if (opens) stages.push({ opens: op, ops: [], scale: 1, maxAbs: 0 });
    stages[stages.length - 1].ops.push(op);
    stageOf.set(op, stages.length - 1);
  }
  for (const s of stages) {
    s.maxAbs = Math.max(...s.ops.map(max));
    s.scale = powerOfTwoScale(s.maxAbs, target);
  }
  const conv1 = new Map<string, { scale: number; maxAbs: number }>();
  for (const rs of w.resnets) conv1.set(`${rs.path}.conv1`, { maxAbs: max(`${rs.path}.conv1`), scale: powerOfTwoScale(max(`${rs.path}.conv1`), target) });

  // weight factors: a layer writing into a stage at scale s from an input at scale s_in gets weight x s/s_in, bias x s
  const layers: LayerScale[] = [];
  const push = (layer: string, weight: number, bias: number) => {
    if (weight !== 1 || bias !== 1) layers.push({ layer, weight, bias });
  };
  stages.forEach((s, i) => {
    const before = i === 0 ? 1 : stages[i - 1].scale;
    if (i === 0) push(s.opens, s.scale, s.scale); // conv_in reads the (unscaled) latents or image
    else if (s.opens.endsWith('.conv_shortcut')) push(s.opens, s.scale / before, s.scale);
    else push(s.opens, s.scale / before, s.scale); // up/downsampler conv reads the previous stage
  });
  w.resnets.forEach((rs) => {
    const s = stages[stageOf.get(`${rs.path}.add`)!].scale;
    const t = conv1.get(`${rs.path}.conv1`)!.scale;
    push(`${rs.path}.conv1`, t, t); // read only by norm2
    push(`${rs.path}.conv2`, s, s); // reads silu(norm2(.)): unscaled
  });
  for (const att of w.attentions) {
    const s = stages[stageOf.get(`${att}.to_out.0`)!].scale;
    push(`${att}.to_out.0`, s, s);
  }
  const reachable = new Set([...stages.flatMap((s) => s.ops), ...conv1.keys()]);
  const unreachable = [...stats.values()].filter((l) => l.name.startsWith(`${part}.`) || w.latentConvs.includes(l.name))
    .filter((l) => !reachable.has(l.name) && l.maxAbs > target)
    .map((l) => l.name);
  return { part, target, stages, conv1, layers, unreachable };
}

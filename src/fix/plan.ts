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
import type { VaeArchitecture } from '../weights/architecture.js';
import type { LayerStats } from '../precision/instrument.js';

export type Part = 'decoder' | 'encoder';

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
  /** stage-opening convs in order (the first is conv_in), with the resnet index they precede */
  resamplers: { conv: string; beforeResnet: number }[];
}

function walk(arch: VaeArchitecture, part: Part): Walk {
  const boc = arch.blockOutChannels;
  const n = boc.length;
  const resnets: Walk['resnets'] = [];
  const attentions: string[] = [];
  const resamplers: Walk['resamplers'] = [{ conv: `${part}.conv_in`, beforeResnet: 0 }];
  const mid = () => {
    resnets.push({ path: `${part}.mid_block.resnets.0`, shortcut: false });
    if (arch.midAttention) attentions.push(`${part}.mid_block.attentions.0`);
    resnets.push({ path: `${part}.mid_block.resnets.1`, shortcut: false });
  };
  if (part === 'decoder') {
    const rev = [...boc].reverse();
    mid();
    for (let k = 0; k < n; k++) {
      for (let j = 0; j <= arch.layersPerBlock; j++) resnets.push({ path: `decoder.up_blocks.${k}.resnets.${j}`, shortcut: j === 0 && rev[Math.max(0, k - 1)] !== rev[k] });
      if (k < n - 1) resamplers.push({ conv: `decoder.up_blocks.${k}.upsamplers.0.conv`, beforeResnet: resnets.length });
    }
  } else {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < arch.layersPerBlock; j++) resnets.push({ path: `encoder.down_blocks.${i}.resnets.${j}`, shortcut: j === 0 && i > 0 && boc[i - 1] !== boc[i] });
      if (i < n - 1) resamplers.push({ conv: `encoder.down_blocks.${i}.downsamplers.0.conv`, beforeResnet: resnets.length });
    }
    mid();
  }
  return { resnets, attentions, resamplers };
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
  const stageOfResnet: number[] = [];
  const open = (opens: string) => stages.push({ opens, ops: [opens], scale: 1, maxAbs: 0 });
  let r = 0;
  const attentionAfter = new Map<string, string>(); // mid resnet 0 -> attention
  if (w.attentions.length) attentionAfter.set(`${part}.mid_block.resnets.0`, w.attentions[0]);
  for (const rs of w.resamplers) {
    for (; r < rs.beforeResnet; r++) addResnet(r);
    open(rs.conv);
  }
  for (; r < w.resnets.length; r++) addResnet(r);
  function addResnet(i: number) {
    const { path, shortcut } = w.resnets[i];
    if (shortcut) open(`${path}.conv_shortcut`);
    const s = stages[stages.length - 1];
    s.ops.push(`${path}.conv2`, `${path}.add`);
    stageOfResnet[i] = stages.length - 1;
    const att = attentionAfter.get(path);
    if (att) s.ops.push(`${att}.to_out.0`, `${att}.add`);
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
  const stageIndex = (opens: string) => stages.findIndex((s) => s.opens === opens);
  stages.forEach((s, i) => {
    const before = i === 0 ? 1 : stages[i - 1].scale;
    if (i === 0) push(s.opens, s.scale, s.scale); // conv_in reads the (unscaled) latents or image
    else if (s.opens.endsWith('.conv_shortcut')) push(s.opens, s.scale / before, s.scale);
    else push(s.opens, s.scale / before, s.scale); // up/downsampler conv reads the previous stage
  });
  w.resnets.forEach((rs, i) => {
    const s = stages[stageOfResnet[i]].scale;
    const t = conv1.get(`${rs.path}.conv1`)!.scale;
    push(`${rs.path}.conv1`, t, t); // read only by norm2
    push(`${rs.path}.conv2`, s, s); // reads silu(norm2(.)): unscaled
  });
  for (const att of w.attentions) {
    const s = stages[stageIndex(stages.find((x) => x.ops.includes(`${att}.to_out.0`))!.opens)].scale;
    push(`${att}.to_out.0`, s, s);
  }
  const reachable = new Set([...stages.flatMap((s) => s.ops), ...conv1.keys()]);
  const unreachable = [...stats.values()].filter((l) => l.name.startsWith(part === 'decoder' ? 'decoder.' : 'encoder.') || l.name === (part === 'decoder' ? 'post_quant_conv' : 'quant_conv'))
    .filter((l) => !reachable.has(l.name) && l.maxAbs > target)
    .map((l) => l.name);
  return { part, target, stages, conv1, layers, unreachable };
}

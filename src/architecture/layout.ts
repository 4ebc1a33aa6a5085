/**
 * The AutoencoderKL layout, declared once: for a VaeArchitecture, the ordered list of layers each
 * part runs, with the diffusers module path of each (so binding a weight is a map lookup, as the
 * checkpoint keys mirror the modules) and the widths each reads and writes. Expected weight shapes
 * (shapes.ts), the FLOP count (flops.ts), the ONNX graph builders (graph/vae-graph.ts) and fix's stage
 * walk (fix/plan.ts) all walk this list; none of them repeats a layout rule. ARCHITECTURE.md has the
 * same facts in prose.
 */
import type { Part, VaeArchitecture } from './vae-architecture.js';

/**
 * One layer of a part, in execution order.
 * - conv: a convolution with bias at `path` (`role` says where it sits: the latent-space 1x1 convs
 *   outside the encoder/decoder, the part's conv_in, or its conv_out).
 * - resnet: norm1, act1, conv1, norm2, act2, conv2 and, where the width changes, a 1x1 conv_shortcut;
 *   out = shortcut(x) + conv2(...).
 * - attention: group_norm, one head of width `channels` over the H*W tokens (to_q, to_k, to_v as
 *   Linear [C, C], to_out.0), residual added.
 * - upsample: nearest 2x then a 3x3 conv at `${path}.conv`.
 * - downsample: zero pad right 1 and bottom 1, then a 3x3 stride-2 conv at `${path}.conv`.
 * - norm: GroupNorm (conv_norm_out); silu: the activation after it (conv_act, no weights).
 */
export type LayoutNode =
  | { kind: 'conv'; path: string; role: 'latent' | 'in' | 'out'; cin: number; cout: number; kernel: number }
  | { kind: 'resnet'; path: string; cin: number; cout: number; shortcut: boolean }
  | { kind: 'attention'; path: string; channels: number }
  | { kind: 'upsample'; path: string; channels: number }
  | { kind: 'downsample'; path: string; channels: number }
  | { kind: 'norm'; path: string; channels: number }
  | { kind: 'silu'; path: string };

export interface PartLayout {
  part: Part;
  /** channels of the part's input: latent channels (decoder) or image channels (encoder) */
  inputChannels: number;
  /**
   * channels of the last layer's output: image channels (decoder), or 2 x latent channels (encoder:
   * the mean in the first half, the log-variance in the second)
   */
  outputChannels: number;
  /** output size / input size along each spatial axis: 2^(levels-1) (decoder) or its inverse */
  spatialFactor: number;
  layers: LayoutNode[];
}

function resnet(path: string, cin: number, cout: number): LayoutNode {
  // a 1x1 shortcut exists exactly where the width changes; otherwise the input is added as is
  return { kind: 'resnet', path, cin, cout, shortcut: cin !== cout };
}

/** mid block: resnet, attention (unless mid_block_add_attention is false), resnet, at the deepest width */
function midBlock(arch: VaeArchitecture, part: Part, c: number): LayoutNode[] {
  const p = `${part}.mid_block`;
  const out: LayoutNode[] = [resnet(`${p}.resnets.0`, c, c)];
  if (arch.midAttention) out.push({ kind: 'attention', path: `${p}.attentions.0`, channels: c });
  out.push(resnet(`${p}.resnets.1`, c, c));
  return out;
}

/**
 * Decoder: post_quant_conv 1x1 (absent in SD3 and FLUX.1) -> conv_in 3x3 -> mid block -> up levels
 * over the reversed widths, each with layersPerBlock + 1 resnets (the first reads the previous level's
 * width) and, except the last, a 2x upsampler -> conv_norm_out -> conv_act -> conv_out.
 */
function decoderLayout(arch: VaeArchitecture): PartLayout {
  const rev = [...arch.blockOutChannels].reverse();
  const n = rev.length;
  const L = arch.latentChannels;
  const layers: LayoutNode[] = [];
  if (arch.postQuantConv) layers.push({ kind: 'conv', path: 'post_quant_conv', role: 'latent', cin: L, cout: L, kernel: 1 });
  layers.push({ kind: 'conv', path: 'decoder.conv_in', role: 'in', cin: L, cout: rev[0], kernel: 3 }, ...midBlock(arch, 'decoder', rev[0]));
  for (let k = 0; k < n; k++) {
    for (let j = 0; j <= arch.layersPerBlock; j++) {
      layers.push(resnet(`decoder.up_blocks.${k}.resnets.${j}`, j === 0 ? rev[Math.max(0, k - 1)] : rev[k], rev[k]));
    }
    if (k < n - 1) layers.push({ kind: 'upsample', path: `decoder.up_blocks.${k}.upsamplers.0`, channels: rev[k] });
  }
  layers.push(
    { kind: 'norm', path: 'decoder.conv_norm_out', channels: rev[n - 1] },
    { kind: 'silu', path: 'decoder.conv_act' },
    { kind: 'conv', path: 'decoder.conv_out', role: 'out', cin: rev[n - 1], cout: arch.outChannels, kernel: 3 },
  );
  return { part: 'decoder', inputChannels: L, outputChannels: arch.outChannels, spatialFactor: 2 ** (n - 1), layers };
}

/**
 * Encoder: conv_in 3x3 -> down levels over the widths, each with layersPerBlock resnets (the first
 * reads the previous level's width) and, except the last, a stride-2 downsampler -> mid block ->
 * conv_norm_out -> conv_act -> conv_out to 2 x latent channels -> quant_conv 1x1 (absent in SD3 and
 * FLUX.1).
 */
function encoderLayout(arch: VaeArchitecture): PartLayout {
  const boc = arch.blockOutChannels;
  const n = boc.length;
  const L = arch.latentChannels;
  const layers: LayoutNode[] = [{ kind: 'conv', path: 'encoder.conv_in', role: 'in', cin: arch.inChannels, cout: boc[0], kernel: 3 }];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < arch.layersPerBlock; j++) {
      layers.push(resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? boc[Math.max(0, i - 1)] : boc[i], boc[i]));
    }
    if (i < n - 1) layers.push({ kind: 'downsample', path: `encoder.down_blocks.${i}.downsamplers.0`, channels: boc[i] });
  }
  layers.push(
    ...midBlock(arch, 'encoder', boc[n - 1]),
    { kind: 'norm', path: 'encoder.conv_norm_out', channels: boc[n - 1] },
    { kind: 'silu', path: 'encoder.conv_act' },
    { kind: 'conv', path: 'encoder.conv_out', role: 'out', cin: boc[n - 1], cout: 2 * L, kernel: 3 },
  );
  if (arch.quantConv) layers.push({ kind: 'conv', path: 'quant_conv', role: 'latent', cin: 2 * L, cout: 2 * L, kernel: 1 });
  return { part: 'encoder', inputChannels: arch.inChannels, outputChannels: 2 * L, spatialFactor: 2 ** -(n - 1), layers };
}

/** The layers of one part of an AutoencoderKL with this architecture, in execution order. */
export function partLayout(arch: VaeArchitecture, part: Part): PartLayout {
  return part === 'decoder' ? decoderLayout(arch) : encoderLayout(arch);
}

/**
 * The AutoencoderKL decoder (post_quant_conv + decoder) and encoder (encoder + quant_conv, mean and
 * logvar) as ONNX graphs. Inputs take any batch size and spatial size (dynamic dims).
 */
import type { VaeArchitecture } from '../weights/architecture.js';
import type { Tensor32 } from '../weights/load.js';
import { GraphBuilder } from './builder.js';
import type { OnnxGraph } from './ir.js';
import { type LayerContext, attention, conv, downsample, groupNorm, resnet, silu, upsample } from './layers.js';

export interface VaeWeights {
  arch: VaeArchitecture;
  weights: ReadonlyMap<string, Tensor32>;
}

export const DECODER_INPUT = 'latent';
export const ENCODER_INPUT = 'image';

function midBlock(ctx: LayerContext, part: string, x: string, arch: VaeArchitecture): string {
  let h = resnet(ctx, `${part}.mid_block.resnets.0`, x);
  if (arch.midAttention) h = attention(ctx, `${part}.mid_block.attentions.0`, h);
  return resnet(ctx, `${part}.mid_block.resnets.1`, h);
}

/** Decoder graph: input `latent` [batch, L, h, w] (unscaled), output [batch, 3, 2^(n-1) h, 2^(n-1) w]. */
export function buildDecoderGraph(vae: VaeWeights): OnnxGraph {
  const { arch } = vae;
  if (!arch.hasDecoder) throw new Error('internal: VAE has no decoder');
  const b = new GraphBuilder('vae_decoder');
  const ctx: LayerContext = { b, weights: vae.weights, groups: arch.groups, eps: arch.eps };
  let x = b.input(DECODER_INPUT, ['batch', arch.latentChannels, 'height', 'width']);
  x = conv(ctx, 'post_quant_conv', x);
  x = conv(ctx, 'decoder.conv_in', x);
  x = midBlock(ctx, 'decoder', x, arch);
  const n = arch.blockOutChannels.length;
  for (let k = 0; k < n; k++) {
    for (let j = 0; j <= arch.layersPerBlock; j++) x = resnet(ctx, `decoder.up_blocks.${k}.resnets.${j}`, x);
    if (k < n - 1) x = upsample(ctx, `decoder.up_blocks.${k}.upsamplers.0`, x);
  }
  x = groupNorm(ctx, 'decoder.conv_norm_out', x);
  x = silu(ctx, 'decoder.conv_act', x);
  x = conv(ctx, 'decoder.conv_out', x);
  b.output(x, ['batch', arch.outChannels, 'out_height', 'out_width']);
  return b.build();
}

/** Encoder graph: input `image` [batch, 3, H, W] in [-1, 1]; outputs mean and logvar [batch, L, H/f, W/f]. */
export function buildEncoderGraph(vae: VaeWeights): OnnxGraph {
  const { arch } = vae;
  if (!arch.hasEncoder) throw new Error('internal: VAE has no encoder');
  const b = new GraphBuilder('vae_encoder');
  const ctx: LayerContext = { b, weights: vae.weights, groups: arch.groups, eps: arch.eps };
  let x = b.input(ENCODER_INPUT, ['batch', arch.inChannels, 'height', 'width']);
  x = conv(ctx, 'encoder.conv_in', x);
  const n = arch.blockOutChannels.length;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < arch.layersPerBlock; j++) x = resnet(ctx, `encoder.down_blocks.${i}.resnets.${j}`, x);
    if (i < n - 1) x = downsample(ctx, `encoder.down_blocks.${i}.downsamplers.0`, x);
  }
  x = midBlock(ctx, 'encoder', x, arch);
  x = groupNorm(ctx, 'encoder.conv_norm_out', x);
  x = silu(ctx, 'encoder.conv_act', x);
  x = conv(ctx, 'encoder.conv_out', x);
  const moments = conv(ctx, 'quant_conv', x);
  const L = arch.latentChannels;
  const slice = (name: string, from: number, to: number) =>
    b.node('Slice', name, [moments, b.int64([from]), b.int64([to]), b.int64([1])]);
  const mean = slice('mean', 0, L);
  const logvar = slice('logvar', L, 2 * L);
  const dims = ['batch', L, 'latent_height', 'latent_width'];
  b.output(mean, dims);
  b.output(logvar, dims);
  return b.build();
}

/** Multiply-accumulate count of one decoder run, for GFLOP/s figures (2 FLOPs per MAC). */
export function decoderFlops(arch: VaeArchitecture, batch: number, h: number, w: number): number {
  const boc = arch.blockOutChannels;
  const rev = [...boc].reverse();
  const n = boc.length;
  let macs = 0;
  const convMacs = (cin: number, cout: number, k: number, hh: number, ww: number) => cin * cout * k * k * hh * ww;
  const res = (cin: number, cout: number, hh: number, ww: number) =>
    convMacs(cin, cout, 3, hh, ww) + convMacs(cout, cout, 3, hh, ww) + (cin !== cout ? convMacs(cin, cout, 1, hh, ww) : 0);
  let hh = h;
  let ww = w;
  const L = arch.latentChannels;
  macs += convMacs(L, L, 1, hh, ww) + convMacs(L, rev[0], 3, hh, ww);
  const c = rev[0];
  macs += 2 * res(c, c, hh, ww);
  if (arch.midAttention) {
    const t = hh * ww;
    macs += 4 * c * c * t + 2 * t * t * c;
  }
  for (let k = 0; k < n; k++) {
    for (let j = 0; j <= arch.layersPerBlock; j++) macs += res(j === 0 ? rev[Math.max(0, k - 1)] : rev[k], rev[k], hh, ww);
    if (k < n - 1) {
      hh *= 2;
      ww *= 2;
      macs += convMacs(rev[k], rev[k], 3, hh, ww);
    }
  }
  macs += convMacs(rev[n - 1], arch.outChannels, 3, hh, ww);
  return 2 * macs * batch;
}

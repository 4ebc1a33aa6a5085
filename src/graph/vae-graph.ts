/**
 * The AutoencoderKL decoder (post_quant_conv + decoder) and encoder (encoder + quant_conv, mean and
 * logvar) as ONNX graphs, built by walking the layout (src/architecture/layout.ts) and emitting each
 * layer with the op emitters of layers.ts. Inputs take any batch size and spatial size (dynamic dims).
 */
import { type LayoutNode, partLayout } from '../architecture/layout.js';
import type { Part, Tensor32, VaeArchitecture } from '../architecture/vae-architecture.js';
import { GraphBuilder } from './builder.js';
import type { OnnxGraph } from './ir.js';
import { type LayerContext, attention, conv, downsample, groupNorm, resnet, silu, upsample } from './layers.js';

export interface VaeWeights {
  arch: VaeArchitecture;
  weights: ReadonlyMap<string, Tensor32>;
}

export const DECODER_INPUT = 'latent';
export const ENCODER_INPUT = 'image';

function emit(ctx: LayerContext, node: LayoutNode, x: string): string {
  switch (node.kind) {
    case 'conv':
      return conv(ctx, node.path, x);
    case 'resnet':
      return resnet(ctx, node.path, x);
    case 'attention':
      return attention(ctx, node.path, x);
    case 'upsample':
      return upsample(ctx, node.path, x);
    case 'downsample':
      return downsample(ctx, node.path, x);
    case 'norm':
      return groupNorm(ctx, node.path, x);
    case 'silu':
      return silu(ctx, node.path, x);
  }
}

/** The part's layers, emitted in order from its input; returns the builder and the last tensor. */
function buildPart(vae: VaeWeights, part: Part, inputName: string): { b: GraphBuilder; out: string } {
  const { arch } = vae;
  const layout = partLayout(arch, part);
  const b = new GraphBuilder(`vae_${part}`);
  const ctx: LayerContext = { b, weights: vae.weights, groups: arch.groups, eps: arch.eps };
  let x = b.input(inputName, ['batch', layout.inputChannels, 'height', 'width']);
  for (const node of layout.layers) x = emit(ctx, node, x);
  return { b, out: x };
}

/** Decoder graph: input `latent` [batch, L, h, w] (unscaled), output [batch, 3, 2^(n-1) h, 2^(n-1) w]. */
export function buildDecoderGraph(vae: VaeWeights): OnnxGraph {
  if (!vae.arch.hasDecoder) throw new Error('internal: VAE has no decoder');
  const { b, out } = buildPart(vae, 'decoder', DECODER_INPUT);
  b.output(out, ['batch', vae.arch.outChannels, 'out_height', 'out_width']);
  return b.build();
}

/** Encoder graph: input `image` [batch, 3, H, W] in [-1, 1]; outputs mean and logvar [batch, L, H/f, W/f]. */
export function buildEncoderGraph(vae: VaeWeights): OnnxGraph {
  if (!vae.arch.hasEncoder) throw new Error('internal: VAE has no encoder');
  const { b, out: moments } = buildPart(vae, 'encoder', ENCODER_INPUT);
  // the last layer writes 2L channels: the mean, then the log-variance
  const L = vae.arch.latentChannels;
  const slice = (name: string, from: number, to: number) =>
    b.node('Slice', name, [moments, b.int64([from]), b.int64([to]), b.int64([1])]);
  const mean = slice('mean', 0, L);
  const logvar = slice('logvar', L, 2 * L);
  const dims = ['batch', L, 'latent_height', 'latent_width'];
  b.output(mean, dims);
  b.output(logvar, dims);
  return b.build();
}

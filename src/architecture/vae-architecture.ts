/**
 * What an AutoencoderKL is made of, as vaecheck needs it: the configuration numbers (widths, depth,
 * GroupNorm, latent layout) and the float32 weights bound to it. ARCHITECTURE.md describes the layout
 * these numbers expand to; layout.ts is that description in code. Everything that knows the layout
 * (weight loading, the graph builders, the FLOP count, fix's stage walk) imports from this folder,
 * and this folder imports from none of them.
 */

export interface VaeArchitecture {
  /** widths of the encoder's down levels; the decoder uses them reversed. SDXL: [128, 256, 512, 512] */
  blockOutChannels: number[];
  /** resnets per encoder down level; decoder up levels have one more. SDXL: 2 */
  layersPerBlock: number;
  /** GroupNorm groups. SDXL: 32 */
  groups: number;
  /** GroupNorm epsilon, 1e-6 in AutoencoderKL */
  eps: number;
  latentChannels: number;
  inChannels: number;
  outChannels: number;
  /** whether the mid blocks hold an attention layer (diffusers' mid_block_add_attention) */
  midAttention: boolean;
  /** SDXL: 0.13025 */
  scalingFactor: number;
  /** where scalingFactor came from */
  scalingFactorSource: 'config' | 'default';
  /** diffusers' force_upcast, when the config states it */
  forceUpcast?: boolean;
  hasEncoder: boolean;
  hasDecoder: boolean;
}

export const SDXL_SCALING_FACTOR = 0.13025;

/** A weight tensor in float32, row-major. */
export interface Tensor32 {
  shape: number[];
  data: Float32Array;
}

export type Part = 'decoder' | 'encoder';

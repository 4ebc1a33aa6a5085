/**
 * What an AutoencoderKL is made of, as vaecheck needs it: the configuration numbers (widths, depth,
 * GroupNorm, latent layout) and the float32 weights bound to it. ARCHITECTURE.md describes the layout
 * these numbers expand to; layout.ts is that description in code. Everything that knows the layout
 * (weight loading, the graph builders, the FLOP count, fix's stage walk) imports from this folder,
 * and this folder imports from none of them.
 */

import type { Tensor } from '../tensor.js';

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
  /** whether the encoder ends with quant_conv (diffusers' use_quant_conv; SD3 and FLUX.1: no) */
  quantConv: boolean;
  /** whether the decoder starts with post_quant_conv (diffusers' use_post_quant_conv; SD3 and FLUX.1: no) */
  postQuantConv: boolean;
  /** diffusion-space latents = (raw - shiftFactor) * scalingFactor. SDXL: 0.13025 */
  scalingFactor: number;
  /** SD3/3.5: 0.0609, FLUX.1: 0.1159, 0 for the 4-channel families */
  shiftFactor: number;
  /** where scalingFactor and shiftFactor came from */
  scalingFactorSource: FactorSource;
  /** the model family whose latent space this VAE is taken to have, and how that was decided */
  family: FamilyChoice;
  /** diffusers' force_upcast, when the config states it */
  forceUpcast?: boolean;
  /** config.json sample_size (the first entry of a list): diffusers' tile size in pixels for tiled decodes */
  sampleSize?: number;
  hasEncoder: boolean;
  hasDecoder: boolean;
}

export const SDXL_SCALING_FACTOR = 0.13025;

/** The AutoencoderKL families vaecheck knows; they differ only in the latent layout (family.ts). */
export type VaeFamily = 'sd15' | 'sdxl' | 'sd3' | 'flux';

/**
 * How the latent factors were decided: stated by the user (--scaling-factor / --shift-factor or
 * --family), by config.json, by the family that the file's other keys show (a whole checkpoint), or a
 * default for the latent channel count (the weights alone cannot tell SD 1.x from SDXL, SD3 from FLUX.1).
 */
export type FactorSource = 'flag' | 'family-flag' | 'config' | 'checkpoint' | 'default';

export interface FamilyChoice {
  /** null: a latent layout matching no known family (e.g. 8 latent channels) */
  family: VaeFamily | null;
  source: FactorSource;
}

/** A weight tensor in float32, row-major. */
/** A float32 weight tensor: the one tensor type (src/tensor.ts) under the name the graph builders use. */
export type Tensor32 = Tensor;

export type Part = 'decoder' | 'encoder';

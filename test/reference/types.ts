/**
 * Types shared by the independent float64 reference VAE (test/reference/vae64.ts) and the fixture
 * generator (fixtures/generate.ts). Nothing here is imported from src/: the reference must not share
 * code with the graph builder it checks.
 */

/** A dense tensor in float64, row-major (C order). */
export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

/**
 * VAE weights in the canonical diffusers naming, modern attention names
 * (`decoder.mid_block.attentions.0.to_q.weight` with shape [C, C], `to_out.0`), no prefix.
 */
export type RefWeights = Map<string, RefTensor>;

export interface RefConfig {
  /** e.g. [128, 256, 512, 512] for SDXL */
  blockOutChannels: number[];
  /** resnets per encoder down block; decoder up blocks have layersPerBlock + 1 */
  layersPerBlock: number;
  /** GroupNorm groups (32 for SDXL) */
  groups: number;
  /** 4 for SDXL */
  latentChannels: number;
  inChannels: number;
  outChannels: number;
  /** GroupNorm epsilon, 1e-6 for SDXL */
  eps: number;
  /** quant_conv and post_quant_conv present (default true; false for SD3 and FLUX.1) */
  quantConv?: boolean;
  /** the mid blocks hold attention (default true; diffusers' mid_block_add_attention) */
  midAttention?: boolean;
}

export type RefPrecision = 'fp32' | 'fp16' | 'bf16';

/** One traced op: largest finite |x| of its output, and its NaN / Inf counts. */
export interface RefTrace {
  name: string;
  maxAbs: number;
  nan: number;
  inf: number;
  /**
   * fp16 only: how many values, before rounding, lie within FP16_BORDER_BAND (relative) of the
   * overflow threshold 65520. Two correct emulations may round these either way (their fp32
   * accumulation orders differ, and so may an input rounded one fp16 step apart), so an Inf count
   * is compared up to this many.
   */
  borderline: number;
}

/** Relative half-width of the band around 65520 counted as `borderline`: four fp16 steps (2^-10 each). */
export const FP16_BORDER_BAND = 4 * 2 ** -10;

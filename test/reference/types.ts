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
}

export type RefPrecision = 'fp32' | 'fp16' | 'bf16';

/** One traced op: largest finite |x| of its output, and its NaN / Inf counts. */
export interface RefTrace {
  name: string;
  maxAbs: number;
  nan: number;
  inf: number;
}

/**
 * A cell's statistics from its per-latent figures: PSNR and SSIM mean ± population std, the pooled
 * NaN/Inf fraction, the verdict and its reasons. One function for compare and for vaecheck merge, so
 * a merged report recomputes every cell from the items of all shards (never averages of averages).
 */
import { type MeanStd, meanStd } from '../metrics/summary.js';
import type { ItemResult } from './run-compare.js';

export interface CellStatistics {
  psnr: MeanStd;
  ssim: MeanStd;
  psnrVsImage?: MeanStd;
  nonFiniteFraction: number;
  pass: boolean;
  reasons: string[];
}

/** @param items the cell's items in the run's latent order */
export function cellStatistics(items: readonly ItemResult[]): CellStatistics {
  // with several latents each reason names its latent; the set keeps the first occurrence's order
  const reasons = [...new Set(items.flatMap((it) => it.reasons.map((r) => (items.length > 1 ? `${it.latent}: ${r}` : r))))];
  const withImage = items.length > 0 && items.every((i) => i.psnrVsImage !== undefined);
  return {
    psnr: meanStd(items.map((i) => i.psnr)),
    ssim: meanStd(items.map((i) => i.ssim)),
    ...(withImage ? { psnrVsImage: meanStd(items.map((i) => i.psnrVsImage!)) } : {}),
    nonFiniteFraction: items.reduce((a, i) => a + i.nan + i.inf, 0) / items.reduce((a, i) => a + i.total, 0),
    pass: reasons.length === 0,
    reasons,
  };
}

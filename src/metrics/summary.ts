/** Mean and spread of a set of per-image results. */
export interface MeanStd {
  readonly mean: number;
  /** Population standard deviation (divides by n; numpy's np.std default, ddof=0). */
  readonly std: number;
  readonly n: number;
}

/**
 * Mean and POPULATION standard deviation (ddof = 0, like `np.std`), as VAE papers report
 * "PSNR mean ± std" over images. Two passes in float64.
 * An empty input gives `{ mean: NaN, std: NaN, n: 0 }`; NaN or Inf values propagate (an
 * infinite PSNR makes the mean Infinity and the std NaN: filter or report those separately).
 *
 * @example meanStd([1, 2, 3, 4]) // { mean: 2.5, std: 1.118..., n: 4 }
 * @throws nothing
 */
export function meanStd(values: ArrayLike<number>): MeanStd {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i] - mean;
    sq += d * d;
  }
  return { mean, std: Math.sqrt(sq / n), n };
}

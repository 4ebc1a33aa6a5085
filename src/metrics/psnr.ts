/**
 * Peak signal-to-noise ratio, pooled over every value of the tensors (all channels, pixels and batch
 * items), computed in float64: `10 * log10(peak^2 / mean((ref - test)^2))`.
 * Matches skimage.metrics.peak_signal_noise_ratio(ref, test, data_range=peak) on float64 data.
 * In text and JSON, an infinite PSNR is written `inf` (format.ts).
 */
import { expected } from '../errors.js';

export interface PsnrOptions {
  /**
   * The largest possible value minus the smallest, i.e. skimage's `data_range`; default 1, for
   * images in [0, 1]. Use 255 for 8-bit data and 2 for VAE tensors in [-1, 1] (PSNR is invariant
   * under the affine map [-1, 1] -> [0, 1] when peak scales with it, so both give the same dB).
   */
  peak?: number;
}

/**
 * PSNR of `test` against the reference `ref`, in dB.
 *
 * @returns `Infinity` when the inputs are identical; `NaN` when either input holds NaN or +-Inf at
 *   any position (count those with countNonFinite: a non-finite decode is a failure whatever its PSNR).
 * @example psnr(new Float32Array([0, 0, 0, 0]), new Float32Array([0.5, 0, 0, 0])) // 20*log10(4) = 12.04 dB
 * @throws {RangeError} lengths differ, the inputs are empty, or peak is not a positive finite number.
 */
export function psnr(ref: ArrayLike<number>, test: ArrayLike<number>, options: PsnrOptions = {}): number {
  const { peak = 1 } = options;
  if (!(peak > 0 && Number.isFinite(peak))) throw new RangeError(expected('a positive finite number', 'peak', peak));
  const n = ref.length;
  if (test.length !== n) throw new RangeError(expected(`${n} values (the length of ref)`, 'test', `${test.length} values`));
  if (n === 0) throw new RangeError(expected('at least one value', 'ref', 'an empty array'));
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = ref[i] - test[i];
    if (d !== d || d === Infinity || d === -Infinity) return NaN;
    sum += d * d;
  }
  if (sum === 0) return Infinity;
  return 10 * Math.log10((peak * peak) / (sum / n));
}

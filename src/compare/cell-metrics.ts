/**
 * The numbers of one decoded image against a reference decode: NaN/Inf (counted first, on the raw
 * float output), PSNR and SSIM on the displayed image in [0, 1] (decoder output mapped by
 * (x + 1) / 2 and clamped, as pipelines do before saving), max / mean absolute error on the same,
 * and pixelmatch's mismatched pixels on the 8-bit images.
 */
import { maxAbsError, meanAbsError } from '../metrics/errors.js';
import { countNonFinite } from '../metrics/nonfinite.js';
import { psnr } from '../metrics/psnr.js';
import { SSIM_MIN_SIDE, ssim } from '../metrics/ssim.js';
import { pixelDiff } from '../images/pixel-diff.js';
import { tensorToRgb8 } from '../images/sharp-io.js';

export interface ImageItem {
  /** CHW float32 decoder output (unclamped, may hold NaN) */
  data: Float32Array;
  c: number;
  h: number;
  w: number;
}

export interface ItemMetrics {
  nan: number;
  inf: number;
  total: number;
  nonFiniteFraction: number;
  /** dB against the reference; Infinity when identical, NaN when either image is non-finite */
  psnr: number;
  /** mean SSIM over channels; NaN when non-finite or smaller than 11x11 */
  ssim: number;
  maxAbsError: number;
  meanAbsError: number;
  mismatchedPixels: number;
  mismatchedFraction: number;
}

/** Maps decoder output in [-1, 1] to the displayed [0, 1] image, keeping NaN (so metrics see it). */
export function toDisplayRange(data: Float32Array): Float64Array {
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] + 1) / 2;
    out[i] = v !== v ? NaN : v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

export function itemMetrics(ref: ImageItem, test: ImageItem, refRgb?: Uint8Array): ItemMetrics {
  const nf = countNonFinite(test.data);
  const a = toDisplayRange(ref.data);
  const b = toDisplayRange(test.data);
  const canSsim = test.h >= SSIM_MIN_SIDE && test.w >= SSIM_MIN_SIDE;
  const { mismatched } = pixelDiff(refRgb ?? tensorToRgb8(ref.data, ref.c, ref.h, ref.w), tensorToRgb8(test.data, test.c, test.h, test.w), test.w, test.h);
  return {
    nan: nf.nan,
    inf: nf.inf,
    total: nf.total,
    nonFiniteFraction: nf.fraction,
    psnr: psnr(a, b),
    ssim: canSsim ? ssim(a, b, [test.c, test.h, test.w]) : NaN,
    maxAbsError: maxAbsError(a, b),
    meanAbsError: meanAbsError(a, b),
    mismatchedPixels: mismatched,
    mismatchedFraction: mismatched / (test.h * test.w),
  };
}

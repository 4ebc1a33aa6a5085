/**
 * The numbers of one decoded image against a reference decode: NaN/Inf (counted first, on the raw
 * float output), PSNR and SSIM on the displayed image in [0, 1] (decoder output mapped by
 * (x + 1) / 2 and clamped, as pipelines do before saving), max / mean absolute error on the same,
 * and pixelmatch's mismatched pixels on the 8-bit images. Whether they pass is verdict.ts's to say.
 */
import { maxAbsError, meanAbsError } from './errors.js';
import { countNonFinite } from './nonfinite.js';
import { psnr } from './psnr.js';
import { SSIM_MIN_SIDE, ssim } from './ssim.js';
import { pixelDiff } from '../images/pixel-diff.js';
import { tensorToRgb8 } from '../images/sharp-io.js';
import { type Tensor, chw } from '../tensor.js';

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

/** The 8-bit RGB pixels of a one-image tensor [1, C, H, W] (C = 1 or 3). */
export function rgb8(t: Tensor): Uint8Array {
  const { c, h, w } = chw(t);
  return tensorToRgb8(t.data, c, h, w);
}

/**
 * @param ref the reference decode, one image [1, C, H, W] (decoder output, in [-1, 1])
 * @param test the decode to measure, same shape
 * @param refRgb rgb8(ref), when the caller already has it (one reference serves many cells)
 */
export function itemMetrics(ref: Tensor, test: Tensor, refRgb?: Uint8Array): ItemMetrics {
  const { c, h, w } = chw(test);
  const nf = countNonFinite(test.data);
  const a = toDisplayRange(ref.data);
  const b = toDisplayRange(test.data);
  const canSsim = h >= SSIM_MIN_SIDE && w >= SSIM_MIN_SIDE;
  const { mismatched } = pixelDiff(refRgb ?? rgb8(ref), rgb8(test), w, h);
  return {
    nan: nf.nan,
    inf: nf.inf,
    total: nf.total,
    nonFiniteFraction: nf.fraction,
    psnr: psnr(a, b),
    ssim: canSsim ? ssim(a, b, [c, h, w]) : NaN,
    maxAbsError: maxAbsError(a, b),
    meanAbsError: meanAbsError(a, b),
    mismatchedPixels: mismatched,
    mismatchedFraction: mismatched / (h * w),
  };
}

/**
 * The one pass/fail rule of vaecheck. compare (each cell), gate (each case) and fix (its
 * verification) measure, then call judge() with their thresholds; it says PASSED or FAILED and
 * why. What the commands print is reasonText() of the failures, in their own style.
 *
 * The rule, in order:
 *
 *  1. Non-finite output first. A decode whose NaN/Inf fraction is above `maxNonFinite` (default 0:
 *     none allowed) FAILS on that alone and no other check is made: a picture with NaN is black
 *     or broken whatever its PSNR.
 *  2. Every threshold that is set is checked: `minPsnr` (dB) and `minSsim` fail strictly below
 *     the limit, `maxMismatch` (percent of pixels), `maxAbsError` and `maxNonFinite` strictly
 *     above it; a value equal to its limit passes.
 *  3. A metric that is NaN could not be measured and FAILS its check. PSNR is NaN when the decode
 *     or the reference holds NaN/Inf: with a finite decode, that means the reference is not finite.
 *  4. The one exception is SSIM of a small image: SSIM needs an 11x11 window, so it is NaN for
 *     images smaller than that. When the decode and the reference are finite (PSNR is a number),
 *     a NaN SSIM is therefore not checked and is listed in `skipped`; otherwise it FAILS as in 3
 *     (unless the PSNR check already failed for the same non-finite values).
 */
import { db, exponential, fixed, percent, ssimText } from '../format.js';

export interface Thresholds {
  /** dB; fails below */
  minPsnr?: number;
  /** fails below */
  minSsim?: number;
  /** largest allowed fraction (0-1) of NaN/Inf values; default 0 */
  maxNonFinite?: number;
  /** largest allowed share of mismatched pixels, in percent */
  maxMismatch?: number;
  /** largest allowed max |a - b| */
  maxAbsError?: number;
}

/** What was measured of one output against its reference; leave out what was not measured. */
export interface Measurement {
  nan: number;
  inf: number;
  total: number;
  psnr?: number;
  ssim?: number;
  /** mismatched pixels / all pixels (0-1) */
  mismatchedFraction?: number;
  maxAbsError?: number;
}

export type Check = 'nonFinite' | 'psnr' | 'ssim' | 'mismatch' | 'maxAbsError';

export interface Failure {
  check: Check;
  /** the measured value (NaN: not measurable); for nonFinite the fraction, for mismatch the percentage */
  value: number;
  limit: number;
}

export interface Verdict {
  pass: boolean;
  status: 'PASSED' | 'FAILED';
  failures: Failure[];
  /** checks that were asked for but do not apply (SSIM of an image under 11x11) */
  skipped: { check: Check; why: string }[];
}

export const nonFiniteFraction = (m: Measurement): number => (m.total === 0 ? 0 : (m.nan + m.inf) / m.total);

export function judge(m: Measurement, t: Thresholds): Verdict {
  const failures: Failure[] = [];
  const skipped: Verdict['skipped'] = [];
  const nf = nonFiniteFraction(m);
  const maxNonFinite = t.maxNonFinite ?? 0;
  if (!(nf <= maxNonFinite)) failures.push({ check: 'nonFinite', value: nf, limit: maxNonFinite });
  else {
    const below = (check: Check, value: number | undefined, limit: number | undefined) => {
      if (limit !== undefined && value !== undefined && !(value >= limit)) failures.push({ check, value, limit });
    };
    const above = (check: Check, value: number | undefined, limit: number | undefined) => {
      if (limit !== undefined && value !== undefined && !(value <= limit)) failures.push({ check, value, limit });
    };
    below('psnr', m.psnr, t.minPsnr);
    if (t.minSsim !== undefined && m.ssim !== undefined && Number.isNaN(m.ssim)) {
      const finitePair = m.psnr !== undefined && !Number.isNaN(m.psnr);
      if (finitePair) skipped.push({ check: 'ssim', why: 'the image is smaller than the 11x11 SSIM window' });
      else if (failures.some((f) => f.check === 'psnr')) skipped.push({ check: 'ssim', why: 'the decode or the reference is not finite (see PSNR)' });
      else failures.push({ check: 'ssim', value: NaN, limit: t.minSsim });
    } else below('ssim', m.ssim, t.minSsim);
    above('mismatch', m.mismatchedFraction === undefined ? undefined : 100 * m.mismatchedFraction, t.maxMismatch);
    above('maxAbsError', m.maxAbsError, t.maxAbsError);
  }
  const pass = failures.length === 0;
  return { pass, status: pass ? 'PASSED' : 'FAILED', failures, skipped };
}

/**
 * A failure as text. `prose` for tables and reports (`PSNR 12.34 dB < 25`, `3.20% NaN/Inf`),
 * `keyValue` for greppable lines (`psnr=12.34 < 40`, `mismatch=2.00% > 1%`).
 */
export function reasonText(f: Failure, m: Measurement, style: 'prose' | 'keyValue'): string {
  const decodeFinite = m.nan + m.inf === 0;
  if (style === 'prose') {
    switch (f.check) {
      case 'nonFinite':
        return `${percent(f.value)}% NaN/Inf`;
      case 'psnr':
        if (Number.isNaN(f.value)) return decodeFinite ? 'reference is not finite' : 'PSNR not measurable: the decode holds NaN/Inf';
        return `PSNR ${db(f.value)} dB < ${f.limit}`;
      case 'ssim':
        return Number.isNaN(f.value) ? 'SSIM not measurable' : `SSIM ${ssimText(f.value)} < ${f.limit}`;
      case 'mismatch':
        return `${fixed(f.value, 2)}% mismatched pixels > ${f.limit}%`;
      case 'maxAbsError':
        return `max abs error ${exponential(f.value)} > ${f.limit}`;
    }
  }
  switch (f.check) {
    case 'nonFinite':
      return `${m.nan} NaN and ${m.inf} Inf values (${percent(f.value)}% > ${100 * f.limit}%)`;
    case 'psnr':
      return `psnr=${db(f.value)} < ${f.limit}`;
    case 'ssim':
      return `ssim=${ssimText(f.value)} < ${f.limit}`;
    case 'mismatch':
      return `mismatch=${fixed(f.value, 2)}% > ${f.limit}%`;
    case 'maxAbsError':
      return `max_abs=${exponential(f.value)} > ${f.limit}`;
  }
}

/** Every failure of a verdict as text, in check order. */
export function reasons(v: Verdict, m: Measurement, style: 'prose' | 'keyValue'): string[] {
  return v.failures.map((f) => reasonText(f, m, style));
}

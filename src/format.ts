/**
 * How vaecheck writes numbers, in text and in JSON: every table, line and report formats through
 * these functions so that one value reads the same everywhere.
 *
 * Text: non-finite values are written `inf`, `-inf` and `nan` (`n/a` where a table shows a value
 * that was not measured, e.g. SSIM of an image smaller than its window).
 * JSON: JSON has no Infinity or NaN, so such numbers are written as the strings "inf", "-inf" and
 * "nan" (the PSNR of identical images is "inf"); finite numbers stay numbers.
 */

/** The text of a value that was not (or could not be) measured, in tables meant for people. */
export const NOT_AVAILABLE = 'n/a';

/** A number as JSON can hold it. */
export type JsonNumber = number | 'inf' | '-inf' | 'nan';

/** Infinity -> "inf", -Infinity -> "-inf", NaN -> "nan"; finite numbers unchanged. */
export function jsonNumber(x: number): JsonNumber {
  if (Number.isFinite(x)) return x;
  return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
}

/** Replacer for JSON.stringify writing every non-finite number as jsonNumber does. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' ? jsonNumber(value) : value;
}

/** `JSON.stringify(value, jsonReplacer, 2)`: vaecheck's JSON output and files. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2);
}

function nonFinite(x: number, nan: string): string {
  return Number.isNaN(x) ? nan : x > 0 ? 'inf' : '-inf';
}

/** `digits` decimals (e.g. `58.86`); non-finite as `inf`, `-inf`, and NaN as `nan` (or `nan` given). */
export function fixed(x: number, digits: number, nan = 'nan'): string {
  return Number.isFinite(x) ? x.toFixed(digits) : nonFinite(x, nan);
}

/** A decibel value (PSNR): two decimals, e.g. `42.87`; `inf` for identical images. */
export function db(x: number, nan = 'nan'): string {
  return fixed(x, 2, nan);
}

/** An SSIM: four decimals, e.g. `0.9997`. */
export function ssimText(x: number, nan = 'nan'): string {
  return fixed(x, 4, nan);
}

/** A fraction as a percentage with two decimals, without the sign: 0.0123 -> `1.23`. */
export function percent(fraction: number): string {
  return fixed(100 * fraction, 2);
}

/** Scientific notation with `digits` decimals, e.g. `1.23e-4`. */
export function exponential(x: number, digits = 2, nan = 'nan'): string {
  return Number.isFinite(x) ? x.toExponential(digits) : nonFinite(x, nan);
}

/**
 * A magnitude for activation tables: five significant digits without trailing zeros (`65504`,
 * `12.345`), scientific below 1e-3 or from 1e6 (`1.235e+6`).
 */
export function magnitude(x: number): string {
  if (!Number.isFinite(x)) return nonFinite(x, 'nan');
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(3);
  return Number(x.toPrecision(5)).toString();
}

/**
 * Element-wise error statistics in float64. Nothing is skipped: a NaN anywhere (including
 * Inf - Inf) makes the result NaN, and an infinite difference makes it Infinity, so a non-finite
 * decode can never look accurate. Count non-finite values with countNonFinite first.
 */
import { expected } from '../errors.js';

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (b.length !== a.length) throw new RangeError(expected(`${a.length} values (the length of a)`, 'b', `${b.length} values`));
  if (a.length === 0) throw new RangeError(expected('at least one value', 'a', 'an empty array'));
}

/**
 * Largest |a[i] - b[i]|.
 *
 * @returns NaN if any difference is NaN.
 * @throws {RangeError} lengths differ or the inputs are empty.
 */
export function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d !== d) return NaN;
    if (d > max) max = d;
  }
  return max;
}

/**
 * Mean of |a[i] - b[i]|.
 *
 * @returns NaN if any difference is NaN.
 * @throws {RangeError} lengths differ or the inputs are empty.
 */
export function meanAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

/** Counts of non-finite values in a tensor. */
export interface NonFiniteCount {
  /** Number of NaN values. */
  readonly nan: number;
  /** Number of +Infinity or -Infinity values. */
  readonly inf: number;
  /** Number of values inspected. */
  readonly total: number;
  /** (nan + inf) / total; 0 for an empty array. */
  readonly fraction: number;
}

/**
 * Counts NaN and +-Inf values. Do this before any 8-bit conversion, which silently turns NaN into 0.
 *
 * @example countNonFinite(new Float32Array([1, NaN, Infinity])) // { nan: 1, inf: 1, total: 3, fraction: 2/3 }
 * @throws nothing
 */
export function countNonFinite(a: ArrayLike<number>): NonFiniteCount {
  let nan = 0;
  let inf = 0;
  const total = a.length;
  for (let i = 0; i < total; i++) {
    const v = a[i];
    if (v !== v) nan++;
    else if (v === Infinity || v === -Infinity) inf++;
  }
  return { nan, inf, total, fraction: total === 0 ? 0 : (nan + inf) / total };
}

/**
 * Reference round-to-nearest-even into float16 and bfloat16, written with plain float64 arithmetic
 * (scale by a power of two, round half to even, scale back) rather than bit tricks, so that it is
 * independent of src/dtype.ts which works on bit patterns.
 */

interface Format {
  mantissaBits: number;
  minExponent: number; // exponent of the smallest normal number
  maxFinite: number;
}

const F16: Format = { mantissaBits: 10, minExponent: -14, maxFinite: 65504 };
const BF16: Format = { mantissaBits: 7, minExponent: -126, maxFinite: (2 - 2 ** -7) * 2 ** 127 };

function roundHalfEven(r: number): number {
  const f = Math.floor(r);
  const d = r - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function roundTo(x: number, fmt: Format): number {
  if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  // Math.log2 can be off by one next to powers of two: correct it exactly.
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  e = Math.max(e, fmt.minExponent);
  const quantum = 2 ** (e - fmt.mantissaBits);
  const r = roundHalfEven(a / quantum) * quantum;
  const out = r > fmt.maxFinite ? Infinity : r;
  return x < 0 ? -out : out === 0 ? 0 : out;
}

/** Rounds a float64 (normally an exact float32 value) to the nearest float16, ties to even. */
export function roundF16(x: number): number {
  const r = roundTo(x, F16);
  return x < 0 && r === 0 ? -0 : r;
}

/** Rounds a float64 (normally an exact float32 value) to the nearest bfloat16, ties to even. */
export function roundBF16(x: number): number {
  // bfloat16 rounds the float32 value; round to float32 first so a float64 input behaves as the GPU's.
  const r = roundTo(Math.fround(x), BF16);
  return x < 0 && r === 0 ? -0 : r;
}

/** Rounds every element in place. */
export function roundArray(a: Float64Array, precision: 'fp32' | 'fp16' | 'bf16'): Float64Array {
  if (precision === 'fp16') for (let i = 0; i < a.length; i++) a[i] = roundF16(Math.fround(a[i]));
  else if (precision === 'bf16') for (let i = 0; i < a.length; i++) a[i] = roundBF16(a[i]);
  return a;
}

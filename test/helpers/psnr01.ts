/**
 * PSNR written independently of src/metrics, for checking reported values: decoder outputs in [-1, 1]
 * mapped to the displayed [0, 1] image and clamped, pooled over every value, float64.
 */
export function psnr01(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.min(1, Math.max(0, (a[i] + 1) / 2));
    const y = Math.min(1, Math.max(0, (b[i] + 1) / 2));
    s += (x - y) ** 2;
  }
  return s === 0 ? Infinity : 10 * Math.log10(1 / (s / a.length));
}

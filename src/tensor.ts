/**
 * The one tensor type of vaecheck: a dense row-major (C order) array with its shape. Weights,
 * latents, images and decoder outputs are all `Tensor`s: images and latents are NCHW, a single
 * image or latent is a batch of one, `[1, C, H, W]`. The data is float32 everywhere except the
 * instrumentation's statistics, which onnxruntime returns as float64 (`Tensor<Float64Array>`).
 *
 * Beside it: splitting an NCHW batch into items and joining items into a batch, the two
 * conversions the jobs (decode, compare, gate, baseline, fix) need.
 */

export interface Tensor<D extends Float32Array | Float64Array = Float32Array> {
  shape: number[];
  data: D;
}

/** Channels, height and width of an NCHW tensor (or of a CHW one). */
export function chw(t: Tensor<Float32Array | Float64Array>): { c: number; h: number; w: number } {
  const s = t.shape;
  return { c: s[s.length - 3], h: s[s.length - 2], w: s[s.length - 1] };
}

/** Splits an NCHW batch into single-item `[1, C, H, W]` tensors (copies). */
export function splitBatch(t: Tensor): Tensor[] {
  const [n, c, h, w] = t.shape;
  const size = c * h * w;
  return Array.from({ length: n }, (_, i) => ({ shape: [1, c, h, w], data: t.data.slice(i * size, (i + 1) * size) }));
}

/**
 * Joins same-shape `[1, C, H, W]` (or `[k, C, H, W]`) tensors into one NCHW batch.
 * @throws {RangeError} no items, or items whose C, H, W differ (callers check sizes first and say which file)
 */
export function joinBatch(items: readonly Tensor[]): Tensor {
  if (items.length === 0) throw new RangeError('joinBatch: no items');
  const [, c, h, w] = items[0].shape;
  let n = 0;
  for (const t of items) {
    if (t.shape.length !== 4 || t.shape[1] !== c || t.shape[2] !== h || t.shape[3] !== w) {
      throw new RangeError(`joinBatch: item of shape [${t.shape.join(', ')}] among [N, ${c}, ${h}, ${w}]`);
    }
    n += t.shape[0];
  }
  const data = new Float32Array(n * c * h * w);
  let off = 0;
  for (const t of items) {
    data.set(t.data, off);
    off += t.data.length;
  }
  return { shape: [n, c, h, w], data };
}

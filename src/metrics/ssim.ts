/**
 * Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004) with the paper's settings:
 * an 11x11 Gaussian window (sigma 1.5, weights normalised to sum 1), K1 = 0.01, K2 = 0.03,
 * population (not sample) covariances, computed per channel plane and averaged.
 *
 * It matches skimage.metrics.structural_similarity(ref, test, gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=L, channel_axis=<C>) exactly on float64 data: skimage
 * filters the whole plane (reflect padding) and then averages the SSIM map over the pixels at least
 * 5 from every border, which is the same as filtering only the 'valid' region, as done here.
 * The window is scipy's: radius int(3.5 * 1.5 + 0.5) = 5, w(k) proportional to exp(-k^2 / (2 * 1.5^2)),
 * applied separably.
 *
 * SSIM is NOT invariant under shifting the data: compute it on images in [0, L] (e.g. map VAE
 * tensors in [-1, 1] to [0, 1] with x => (x + 1) / 2 and use L = 1), as skimage users do.
 * All arithmetic is float64. Any NaN or +-Inf in a plane makes the result NaN.
 */
import { expected } from '../errors.js';

export interface SsimOptions {
  /** Data range L (max minus min possible value; skimage's `data_range`); default 1 for images in [0, 1]. */
  dataRange?: number;
}

const SIGMA = 1.5;
const RADIUS = 5; // int(3.5 * SIGMA + 0.5), as scipy.ndimage.gaussian_filter with truncate 3.5
const K1 = 0.01;
const K2 = 0.03;

/** The normalised 11-tap Gaussian window (sigma 1.5). */
export const SSIM_WINDOW: readonly number[] = (() => {
  const w: number[] = [];
  for (let k = -RADIUS; k <= RADIUS; k++) w.push(Math.exp((-0.5 / (SIGMA * SIGMA)) * k * k));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
})();

/** Smallest height and width accepted (the window size). */
export const SSIM_MIN_SIDE = 2 * RADIUS + 1;

function planesOf(shape: readonly number[]): { planes: number; h: number; w: number } {
  if (shape.length !== 3 && shape.length !== 4) {
    throw new RangeError(expected('a shape [C, H, W] or [N, C, H, W]', 'shape', `[${shape.join(', ')}]`));
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) throw new RangeError(expected('positive integer dimensions', 'shape', `[${shape.join(', ')}]`));
  }
  const h = shape[shape.length - 2];
  const w = shape[shape.length - 1];
  if (h < SSIM_MIN_SIDE || w < SSIM_MIN_SIDE) {
    throw new RangeError(expected(`height and width of at least ${SSIM_MIN_SIDE}`, 'shape', `[${shape.join(', ')}]`));
  }
  const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return { planes, h, w };
}

/**
 * SSIM of every channel plane, in NCHW (or CHW) order: N*C values.
 *
 * @throws {RangeError} shape is not [C,H,W] / [N,C,H,W] of positive integers, H or W < 11, the data
 *   length does not match the shape, or dataRange is not a positive finite number.
 */
export function ssimPlanes(ref: ArrayLike<number>, test: ArrayLike<number>, shape: readonly number[], options: SsimOptions = {}): Float64Array {
  const { dataRange = 1 } = options;
  if (!(dataRange > 0 && Number.isFinite(dataRange))) throw new RangeError(expected('a positive finite number', 'dataRange', dataRange));
  const { planes, h, w } = planesOf(shape);
  const size = planes * h * w;
  if (ref.length !== size) throw new RangeError(expected(`${size} values for shape [${shape.join(', ')}]`, 'ref', `${ref.length} values`));
  if (test.length !== size) throw new RangeError(expected(`${size} values for shape [${shape.join(', ')}]`, 'test', `${test.length} values`));

  const c1 = (K1 * dataRange) ** 2;
  const c2 = (K2 * dataRange) ** 2;
  const g = SSIM_WINDOW;
  const taps = g.length;
  const wo = w - taps + 1;
  const ho = h - taps + 1;
  // Horizontal pass results for the 5 moments, on every row, valid columns only.
  const hx = new Float64Array(h * wo);
  const hy = new Float64Array(h * wo);
  const hxx = new Float64Array(h * wo);
  const hyy = new Float64Array(h * wo);
  const hxy = new Float64Array(h * wo);
  const out = new Float64Array(planes);

  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    for (let y = 0; y < h; y++) {
      const row = base + y * w;
      for (let j = 0; j < wo; j++) {
        let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        for (let k = 0; k < taps; k++) {
          const x = ref[row + j + k];
          const t = test[row + j + k];
          const gk = g[k];
          sx += gk * x;
          sy += gk * t;
          sxx += gk * x * x;
          syy += gk * t * t;
          sxy += gk * x * t;
        }
        const o = y * wo + j;
        hx[o] = sx;
        hy[o] = sy;
        hxx[o] = sxx;
        hyy[o] = syy;
        hxy[o] = sxy;
      }
    }
    let total = 0;
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        let ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
        for (let k = 0; k < taps; k++) {
          const o = (i + k) * wo + j;
          const gk = g[k];
          ux += gk * hx[o];
          uy += gk * hy[o];
          uxx += gk * hxx[o];
          uyy += gk * hyy[o];
          uxy += gk * hxy[o];
        }
        const vx = uxx - ux * ux;
        const vy = uyy - uy * uy;
        const vxy = uxy - ux * uy;
        total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      }
    }
    out[p] = total / (ho * wo);
  }
  return out;
}

/**
 * Mean SSIM over all channel planes (and batch items) of NCHW / CHW float data in [0, dataRange].
 * 1 for identical images; NaN if any value is NaN or +-Inf.
 *
 * @example ssim(refUnit, testUnit, [1, 3, 512, 512]) // 0.93...
 * @throws {RangeError} as ssimPlanes.
 */
export function ssim(ref: ArrayLike<number>, test: ArrayLike<number>, shape: readonly number[], options: SsimOptions = {}): number {
  const per = ssimPlanes(ref, test, shape, options);
  let s = 0;
  for (const v of per) s += v;
  return s / per.length;
}

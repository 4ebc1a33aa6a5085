/**
 * Pixel-level comparisons drawn as images. The only module that imports pixelmatch.
 */
import pixelmatch from 'pixelmatch';
import { expected } from '../errors.js';

export interface PixelDiffOptions {
  /** pixelmatch's matching threshold in [0, 1] (YIQ colour distance); default 0.1, smaller is stricter. */
  threshold?: number;
  /** Count pixels that pixelmatch judges anti-aliasing as mismatched too; default false (pixelmatch's default). */
  includeAA?: boolean;
}

export interface PixelDiffResult {
  /** Number of pixels that differ beyond `threshold`. */
  readonly mismatched: number;
  /** pixelmatch's diff image, RGBA 8-bit (w*h*4; alpha is always 255): red = differs, yellow = anti-aliasing, faded grey = same. */
  readonly diff: Uint8Array;
}

function checkDims(w: number, h: number): void {
  if (!Number.isInteger(w) || w < 1) throw new RangeError(expected('a positive integer', 'width', w));
  if (!Number.isInteger(h) || h < 1) throw new RangeError(expected('a positive integer', 'height', h));
}

function checkLength(name: string, arr: ArrayLike<number>, want: number, what: string): void {
  if (arr.length !== want) throw new RangeError(expected(`${want} values (${what})`, name, `${arr.length} values`));
}

/** Interleaved RGB -> RGBA with alpha 255. */
export function rgbToRgba(rgb: Uint8Array): Uint8Array {
  const n = Math.floor(rgb.length / 3);
  const out = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    out[4 * i] = rgb[3 * i];
    out[4 * i + 1] = rgb[3 * i + 1];
    out[4 * i + 2] = rgb[3 * i + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}

/**
 * Counts mismatched pixels between two 8-bit RGB images with pixelmatch, and returns its diff image.
 *
 * @example const { mismatched, diff } = pixelDiff(refRgb, testRgb, 512, 512); await writePng('diff.png', diff, 512, 512, 4);
 * @throws {RangeError} a buffer is not `w*h*3` bytes, or a dimension is not a positive integer.
 */
export function pixelDiff(a: Uint8Array, b: Uint8Array, w: number, h: number, options: PixelDiffOptions = {}): PixelDiffResult {
  checkDims(w, h);
  checkLength('a', a, w * h * 3, `${w}x${h} RGB`);
  checkLength('b', b, w * h * 3, `${w}x${h} RGB`);
  const { threshold = 0.1, includeAA = false } = options;
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(expected('a number in [0, 1]', 'threshold', threshold));
  const diff = new Uint8Array(w * h * 4);
  const mismatched = pixelmatch(rgbToRgba(a), rgbToRgba(b), diff, w, h, { threshold, includeAA });
  return { mismatched, diff };
}

export interface HeatmapOptions {
  /** Amplification; default 10. Colour = min(1, gain * d / 2) on a black-red-yellow-white scale, where d is the largest |ref - test| over channels, so with data in [-1, 1] and gain 10 a difference of 1/10 of the range saturates. */
  gain?: number;
  /** Start of the CHW image inside both arrays (e.g. `n * c * h * w`); default 0. */
  offset?: number;
}

/** The colour drawn where ref or test holds NaN or +-Inf at any channel of a pixel. */
export const NONFINITE_COLOUR: readonly [number, number, number] = [255, 0, 255];

/**
 * Draws |ref - test| of two CHW float images as an amplified 8-bit RGB heat map (interleaved, w*h*3).
 * Per pixel the largest difference over channels is shown (black = equal, white = saturated).
 * Pixels where either input is NaN or infinite are drawn magenta (NONFINITE_COLOUR).
 *
 * @throws {RangeError} an array is too short for `offset + c*h*w`, or gain is not a positive number.
 */
export function diffHeatmap(ref: Float32Array, test: Float32Array, c: number, h: number, w: number, options: HeatmapOptions = {}): Uint8Array {
  checkDims(w, h);
  if (!Number.isInteger(c) || c < 1) throw new RangeError(expected('a positive integer', 'channels', c));
  const { gain = 10, offset = 0 } = options;
  if (!(gain > 0 && Number.isFinite(gain))) throw new RangeError(expected('a positive finite number', 'gain', gain));
  const plane = h * w;
  const need = offset + c * plane;
  if (!Number.isInteger(offset) || offset < 0 || need > ref.length || need > test.length) {
    throw new RangeError(expected(`an offset with offset + ${c * plane} <= ${Math.min(ref.length, test.length)}`, 'offset', offset));
  }
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    let d = 0;
    let bad = false;
    for (let ch = 0; ch < c; ch++) {
      const r = ref[offset + ch * plane + i];
      const t = test[offset + ch * plane + i];
      if (!Number.isFinite(r) || !Number.isFinite(t)) {
        bad = true;
        break;
      }
      const e = Math.abs(r - t);
      if (e > d) d = e;
    }
    if (bad) {
      out[3 * i] = NONFINITE_COLOUR[0];
      out[3 * i + 1] = NONFINITE_COLOUR[1];
      out[3 * i + 2] = NONFINITE_COLOUR[2];
      continue;
    }
    const s = Math.min(1, (gain * d) / 2);
    out[3 * i] = Math.round(255 * Math.min(1, 3 * s));
    out[3 * i + 1] = Math.round(255 * Math.min(1, Math.max(0, 3 * s - 1)));
    out[3 * i + 2] = Math.round(255 * Math.min(1, Math.max(0, 3 * s - 2)));
  }
  return out;
}
